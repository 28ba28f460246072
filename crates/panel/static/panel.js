// Efir admin panel: progressive enhancement only; every page works
// without this script.
"use strict";

// Forms with data-confirm ask before they post.
document.addEventListener("submit", (ev) => {
  const form = ev.target;
  const question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    ev.preventDefault();
  }
});

// Elements with data-events="<url>" follow a server-sent event stream of
// ingest jobs: each event updates the row or block of that job
// (data-job="<id>"): its state, its progress bar (progress in percent)
// and its activity.
function followJobs(root) {
  const url = root.getAttribute("data-events");
  if (!url || !window.EventSource) return;
  const source = new EventSource(url);
  const apply = (raw) => {
    let job;
    try { job = JSON.parse(raw); } catch (_) { return; }
    if (!job || job.id === undefined) return;
    document.querySelectorAll('[data-job="' + String(job.id) + '"]').forEach((el) => {
      const state = el.querySelector("[data-field=state]");
      if (state && job.state) state.textContent = job.state;
      const activity = el.querySelector("[data-field=activity]");
      if (activity && typeof job.activity === "string") activity.textContent = job.activity;
      const bar = el.querySelector("progress");
      const pct = el.querySelector("[data-field=progress]");
      if (typeof job.progress === "number") {
        const p = Math.round(job.progress * 100) / 100;
        if (bar) bar.value = p;
        if (pct) pct.textContent = p + " %";
      }
    });
  };
  source.onmessage = (ev) => apply(ev.data);
  ["job", "progress", "state"].forEach((name) =>
    source.addEventListener(name, (ev) => apply(ev.data)));
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-events]").forEach(followJobs);
  // Close the other menus when one opens.
  document.querySelectorAll(".nav-group").forEach((d) =>
    d.addEventListener("toggle", () => {
      if (d.open) document.querySelectorAll(".nav-group").forEach((o) => { if (o !== d) o.open = false; });
    }));
});
