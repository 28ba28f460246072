//! Media steps over ffmpeg and ffprobe, run as supervised subprocesses.
