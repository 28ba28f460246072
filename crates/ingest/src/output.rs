//! Outputs of a pipeline: copy or move to a directory, upload by FTP/FTPS.
