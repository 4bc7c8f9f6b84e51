// headstart app: one page over the JSON API of app/server.py. No framework, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null;   // the open project's summary
let lastRun = null;   // the finished run shown in Results / Try / Export
let resumeRun = null; // a stopped run that Resume continues
let events = null;    // the training's EventSource
const UPLOAD_FILES = 32;              // files per request (the app refuses more than 64)
const UPLOAD_BYTES = 16 * 1024 * 1024; // bytes per request (the app refuses more than 20 MB)

// A file dropped outside a drop zone must not make the browser leave the page to show it.
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => e.preventDefault());

function batches(files) {
  const groups = [[]];
  let bytes = 0;
  for (const file of files) {
    const group = groups[groups.length - 1];
    if (group.length && (group.length >= UPLOAD_FILES || bytes + file.size > UPLOAD_BYTES)) { groups.push([file]); bytes = file.size; }
    else { group.push(file); bytes += file.size; }
  }
  return groups.filter((g) => g.length);
}

function show(message, isError = true) {
  const box = $("message");
  box.textContent = message;
  box.className = isError ? "error" : "info";
  box.hidden = !message;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new Error(typeof body === "object" && body.detail ? body.detail : `${response.status} ${body}`);
  }
  return body;
}

const postJson = (path, data) =>
  api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data) });

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

const percent = (x) => (x === null || x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
const projectPath = () => `/api/projects/${encodeURIComponent(current.name)}`;

// Projects -----------------------------------------------------------------------------------------------------

async function listProjects() {
  $("projects-view").hidden = false;
  $("project-view").hidden = true;
  current = null;
  closeCamera();
  if (events) events.close();
  const list = $("project-list");
  list.replaceChildren();
  for (const project of await api("/api/projects")) {
    if (project.error) { list.append(el("li", { class: "broken" }, `${project.name}: ${project.error}`)); continue; }
    const counts = Object.values(project.classes).reduce((a, b) => a + b, 0);
    list.append(el("li", {},
      el("a", { href: "#", "data-project": project.name,
                onclick: (e) => { e.preventDefault(); openProject(project.name).catch((error) => show(error.message)); } },
        project.name),
      ` (${project.kind}, ${Object.keys(project.classes).length} classes, ${counts} examples, ${project.runs.length} runs)`));
  }
}

$("new-project").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const project = await postJson("/api/projects", { name: $("project-name").value, kind: $("project-kind").value });
    show("");
    await openProject(project.name);
  } catch (error) { show(error.message); }
});

$("home").addEventListener("click", (e) => { e.preventDefault(); show(""); listProjects(); });

async function openProject(name) {
  const project = await api(`/api/projects/${encodeURIComponent(name)}`);
  if (events) events.close();
  current = project;
  lastRun = resumeRun = null;
  $("train").disabled = false;
  for (const id of ["stop", "resume", "progress"]) $(id).hidden = true;
  $("try-results").replaceChildren();
  $("use-unlabelled").checked = false;
  $("suggestions").replaceChildren();
  closeCamera();
  $("projects-view").hidden = true;
  $("project-view").hidden = false;
  $("project-title").textContent = `${project.name} (${project.kind === "image" ? "images" : "texts"})`;
  $("try-image").hidden = project.kind !== "image";
  $("try-text").hidden = project.kind !== "text";
  renderProject(project);
  const finished = project.runs.filter((r) => r.finished);
  lastRun = finished.length ? finished[finished.length - 1].run : null;
  const newest = project.runs.length ? project.runs[project.runs.length - 1] : null;
  if (lastRun) await showResults(lastRun);
  else for (const id of ["results", "label-next", "try", "export"]) $(id).hidden = true;
  if (project.training && project.training.state === "running") follow();
  else if (newest && !newest.finished) {
    const state = await api(`${projectPath()}/runs/${encodeURIComponent(newest.run)}`);
    resumeRun = state.resumable ? newest.run : null;
    $("resume").hidden = !resumeRun;
  }
}

function renderProject(project) {
  current = project;
  const box = $("classes");
  box.replaceChildren(...Object.entries(project.classes).map(([label, count]) => exampleCard(project, label, count)));
  $("pool").replaceChildren(exampleCard(project, null, project.unlabelled));
  const warnings = $("warnings");
  warnings.replaceChildren(...project.warnings.map((w) => el("li", {}, w)));
}

// A card to add examples to: a class (``label``), or the unlabelled ones (``label`` null) that Label next picks from.
function exampleCard(project, label, count) {
  const key = label === null ? "" : label;
  const input = project.kind === "image"
    ? el("input", { type: "file", accept: "image/*", multiple: "", "data-class": key,
                    onchange: (e) => uploadImages(label, e.target.files) })
    : el("textarea", { rows: 2, placeholder: "Paste texts, one per line", "data-class": key });
  const extra = project.kind === "text"
    ? el("button", { "data-add": key, onclick: () => addTexts(label, input) }, "Add texts")
    : el("button", { "data-webcam": key, onclick: () => openCamera(label === null ? "not labelled yet" : label,
                                                                   (files) => uploadImages(label, files)) }, "Webcam");
  const title = label === null ? "Not labelled yet" : label;
  const card = el("div", { class: label === null ? "class-card drop pool-card" : "class-card drop", "data-class-card": key },
    el("strong", {}, title), el("span", { class: "count", "data-count": key }, ` ${count} examples`), input, extra);
  if (project.kind === "image") {
    card.addEventListener("dragover", (e) => { e.preventDefault(); card.classList.add("over"); });
    card.addEventListener("dragleave", () => card.classList.remove("over"));
    card.addEventListener("drop", (e) => {
      e.preventDefault(); card.classList.remove("over"); uploadImages(label, e.dataTransfer.files);
    });
  }
  return card;
}

$("new-class").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    renderProject(await postJson(`${projectPath()}/classes`, { name: $("class-name").value }));
    $("class-name").value = "";
    show("");
  } catch (error) { show(error.message); }
});

// Where examples of class ``label`` go (null: the unlabelled ones).
const examplesPath = (label) =>
  label === null ? `${projectPath()}/unlabelled` : `${projectPath()}/examples?label=${encodeURIComponent(label)}`;

async function uploadImages(label, files) {
  let added = 0;
  const skipped = [];
  try {
    for (const group of batches(Array.from(files))) {
      const form = new FormData();
      for (const file of group) form.append("files", file, file.name);
      const answer = await api(examplesPath(label), { method: "POST", body: form });
      added += answer.added;
      skipped.push(...answer.skipped);
      renderProject(answer.project);
    }
    show(skipped.length ? `added ${added}; left out: ${skipped.join("; ")}` : `added ${added}`, skipped.length > 0);
  } catch (error) { show(`added ${added}; then: ${error.message}`); }
}

async function addTexts(label, area) {
  const texts = area.value.split("\n").map((t) => t.trim()).filter((t) => t);
  if (!texts.length) { show("paste at least one text"); return; }
  let added = 0;
  const skipped = [];
  try {
    for (let start = 0; start < texts.length; start += UPLOAD_FILES) {
      const answer = await postJson(examplesPath(label), { texts: texts.slice(start, start + UPLOAD_FILES) });
      added += answer.added;
      skipped.push(...answer.skipped);
      renderProject(answer.project);
    }
    show(skipped.length ? `added ${added}; left out: ${skipped.join("; ")}` : `added ${added}`, skipped.length > 0);
  } catch (error) { show(`added ${added}; then: ${error.message}`); }
}

// Training -----------------------------------------------------------------------------------------------------

async function startTraining(resume) {
  const epochs = $("epochs").value ? Number($("epochs").value) : null;
  try {
    await postJson(`${projectPath()}/train`,
                   { strategy: $("strategy").value, epochs, resume, unlabelled: $("use-unlabelled").checked });
    show("");
    follow();
  } catch (error) { show(error.message); }
}

$("train").addEventListener("click", () => startTraining(null));
$("resume").addEventListener("click", () => startTraining(resumeRun));
$("stop").addEventListener("click", async () => {
  try { await api(`${projectPath()}/train/stop`, { method: "POST" }); } catch (error) { show(error.message); }
});

function follow() {
  if (events) events.close();
  $("progress").hidden = false;
  $("train").disabled = true;
  $("stop").hidden = false;
  $("resume").hidden = true;
  events = new EventSource(`${projectPath()}/train/events`);
  events.onmessage = async (message) => {
    const job = JSON.parse(message.data);
    if (!job) return;
    const epoch = job.epoch && job.epoch.epoch ? `${job.epoch.stage} epoch ${job.epoch.epoch}/${job.epoch.epochs}` : "";
    const scores = job.epoch && job.epoch.loss !== undefined
      ? `, loss ${job.epoch.loss.toFixed(3)}, accuracy ${percent(job.epoch.accuracy)}` : "";
    const left = job.left ? `, about ${Math.round(job.left)} s left` : "";
    $("progress-line").textContent = `${job.state}${epoch ? ": " + epoch : ""}${scores}; ${Math.round(job.elapsed || 0)} s${left}`;
    $("progress-log").textContent = (job.lines || []).join("\n");
    if (job.state !== "running") {
      events.close();
      $("train").disabled = false;
      $("stop").hidden = true;
      if (job.state === "failed") show(`training failed: ${job.error || "see the log above"}`);
      if (job.state === "stopped") {
        resumeRun = job.resumable ? job.run : null;
        $("resume").hidden = !resumeRun;
        show(resumeRun ? "stopped; Resume continues from the last checkpoint"
                       : "stopped before the first checkpoint: train again", false);
      }
      try {
        renderProject(await api(projectPath()));
        if (job.state === "done") await showResults(job.run);
      } catch (error) { show(error.message); }
    }
  };
  events.onerror = () => {
    events.close();
    $("train").disabled = false;
    show("lost contact with the app while training; reload the page to see the training again");
  };
}

// Results ------------------------------------------------------------------------------------------------------

async function showResults(run) {
  const result = await api(`${projectPath()}/runs/${encodeURIComponent(run)}`);
  if (!result.finished) return;
  lastRun = run;
  resumeRun = null;
  $("resume").hidden = true;
  for (const id of ["results", "label-next", "try", "export"]) $(id).hidden = false;
  $("suggestions").replaceChildren();
  const gap = result.gap === null ? "" : `, ${result.gap >= 0 ? "+" : ""}${(100 * result.gap).toFixed(1)} points over ${result.baseline_name} (${percent(result.baseline)})`;
  $("score").textContent = `accuracy ${percent(result.accuracy)} on the ${result.evaluated_on} split${gap}`;
  if (result.accuracy === null || result.accuracy === undefined) $("score").textContent = result.note || "no score";
  $("reason").textContent = `${result.model}, ${result.strategy}: ${result.reason}. ${result.estimate || ""}`;
  const table = $("confusion");
  table.replaceChildren(el("caption", {}, "Confusion matrix (rows: true class, columns: predicted)"),
    el("tr", {}, el("th", {}, ""), ...result.classes.map((c) => el("th", {}, c))),
    ...(result.confusion || []).map((row, i) =>
      el("tr", {}, el("th", {}, result.classes[i]), ...row.map((n, j) => el("td", { class: i === j ? "diag" : "" }, n)))));
  const mistakes = $("mistakes");
  mistakes.replaceChildren(...result.mistakes.map((m) => mistakeItem(m)));
  if (!result.mistakes.length) mistakes.append(el("li", {}, "none"));
  const base = `${projectPath()}/runs/${encodeURIComponent(run)}`;
  $("report-link").href = `${base}/files/report.html`;
  $("export-onnx").href = `${base}/export.zip`;
  $("export-run").href = `${base}/run.zip`;
}

function mistakeItem(m) {
  const base = `${projectPath()}/runs/${encodeURIComponent(lastRun)}/files/`;
  const shown = m.picture
    ? el("img", { src: base + m.picture.split("/").map(encodeURIComponent).join("/"), alt: m.example })
    : el("q", {}, m.example);
  const item = el("li", {}, shown, ` labelled ${m.label}, predicted ${m.predicted} (${percent(m.confidence)}) `);
  if (m.editable) {
    const relabel = (to) => async () => {
      try {
        renderProject(await postJson(`${projectPath()}/relabel`, { label: m.label, example: m.example, to }));
        item.remove();
        show(to ? `moved to ${to}; train again to use it` : "removed (kept in the project's removed/ folder)", false);
      } catch (error) { show(error.message); }
    };
    item.append(el("button", { onclick: relabel(m.predicted) }, `It is ${m.predicted}`),
                el("button", { onclick: relabel(null) }, "Remove"));
  }
  return item;
}

// Label next ---------------------------------------------------------------------------------------------------

$("suggest").addEventListener("click", async () => {
  const list = $("suggestions");
  const path = projectPath(), run = lastRun;
  $("suggest").disabled = true;
  try {
    const answer = await postJson(`${path}/runs/${encodeURIComponent(run)}/suggest`, {});
    if (!current || projectPath() !== path) return;  // another project was opened meanwhile
    list.replaceChildren(...answer.suggestions.map((s) => suggestionItem(s, path)));
    show(answer.suggestions.length ? "" : "no suggestions: add unlabelled examples that are not labelled already", false);
  } catch (error) { show(error.message); } finally { $("suggest").disabled = false; }
});

function suggestionItem(s, path) {
  const shown = s.picture
    ? el("img", { src: `${path}/unlabelled/${encodeURIComponent(s.example)}`, alt: s.example })
    : el("q", {}, s.example);
  const item = el("li", { "data-suggested": s.example }, shown, ` the model guesses ${s.predicted} (${percent(s.confidence)}): `);
  for (const label of Object.keys(current.classes)) {
    item.append(el("button", {
      "data-label-to": label, class: label === s.predicted ? "guess" : "",
      onclick: async () => {
        try {
          const project = await postJson(`${path}/unlabelled/label`, { example: s.example, to: label });
          item.remove();
          if (projectPath() === path) renderProject(project);
          show(`labelled ${label}${$("suggestions").children.length ? "" : "; train again to use the new labels"}`, false);
        } catch (error) { show(error.message); }
      } }, label));
  }
  return item;
}

// Webcam -------------------------------------------------------------------------------------------------------

let camera = null;   // { stream, send(files) }
let opening = null;  // the camera being asked for (a second click waits for the same one)
const FRAME_EVERY_MS = 250, MOST_FRAMES = 40;

async function openCamera(what, send) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    show("this browser gives no webcam to this page: open the app at http://127.0.0.1 (or localhost)");
    return;
  }
  try {
    if (!camera) {
      opening = opening || navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      const stream = await opening;
      opening = null;
      if (!camera) {
        camera = { stream };
        $("camera-video").srcObject = stream;
      }
    }
    camera.send = send;
    $("camera-target").textContent = what;
    $("camera").hidden = false;
  } catch (error) {
    opening = null;
    show(`the webcam could not be opened (${error.name}): allow the camera for this page`);
  }
}

function closeCamera() {
  if (recording) { clearInterval(recording.timer); recording = null; }
  if (camera) for (const track of camera.stream.getTracks()) track.stop();
  camera = null;
  $("camera-video").srcObject = null;
  $("camera").hidden = true;
}

function frame() {
  const video = $("camera-video");
  if (video.readyState < 2 || !video.videoWidth) return null;  // no picture yet
  const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(
    (blob) => resolve(blob && new File([blob], `webcam-${Date.now()}.jpg`, { type: "image/jpeg" })), "image/jpeg", 0.92));
}

// Click: one picture. Hold: one every quarter second until let go (at most MOST_FRAMES), sent together.
let recording = null;
function startRecording(event) {
  event.preventDefault();
  if (!camera || recording || (event.button !== undefined && event.button !== 0)) return;
  const first = frame();
  if (!first) { show("the webcam is starting; try again in a moment", false); return; }
  recording = { frames: [first], send: camera.send, timer: setInterval(() => {
    if (recording.frames.length < MOST_FRAMES) { const next = frame(); if (next) recording.frames.push(next); }
  }, FRAME_EVERY_MS) };
}
async function stopRecording() {
  if (!recording) return;
  clearInterval(recording.timer);
  const { frames, send } = recording;
  recording = null;
  const files = (await Promise.all(frames)).filter((file) => file);
  if (files.length) send(files);
}
$("camera-capture").addEventListener("pointerdown", startRecording);
for (const ending of ["pointerup", "pointerleave", "pointercancel"]) $("camera-capture").addEventListener(ending, stopRecording);
$("camera-capture").addEventListener("keydown", (e) => {  // the keyboard: one picture per Enter or Space
  if ((e.key === "Enter" || e.key === " ") && !e.repeat) { startRecording(e); stopRecording(); }
});
$("camera-capture").addEventListener("contextmenu", (e) => e.preventDefault());  // a long press on a touch screen
$("camera-close").addEventListener("click", closeCamera);
$("try-webcam").addEventListener("click", () => openCamera("try it", tryImages));

// Try it -------------------------------------------------------------------------------------------------------

function showPredictions(rows) {
  $("try-results").replaceChildren(el("tr", {}, el("th", {}, "input"), el("th", {}, "label"), el("th", {}, "top classes")),
    ...rows.map((row) => el("tr", { "data-label": row.label }, el("td", {}, row.input),
      el("td", {}, row.unknown ? `${row.label} (unknown: like none of the classes)` : row.label),
      el("td", {}, row.top_k.map((t) => `${t.label} ${percent(t.probability)}`).join(", ")))));
}

async function tryImages(files) {
  const rows = [];
  try {
    for (const group of batches(Array.from(files))) {
      const form = new FormData();
      for (const file of group) form.append("files", file, file.name);
      rows.push(...(await api(`${projectPath()}/runs/${encodeURIComponent(lastRun)}/predict`, { method: "POST", body: form })).predictions);
      showPredictions(rows);
    }
    show("");
  } catch (error) { show(error.message); }
}

$("try-files").addEventListener("change", (e) => tryImages(e.target.files));
$("try-drop").addEventListener("dragover", (e) => e.preventDefault());
$("try-drop").addEventListener("drop", (e) => { e.preventDefault(); tryImages(e.dataTransfer.files); });
$("try-send").addEventListener("click", async () => {
  const texts = $("try-texts").value.split("\n").map((t) => t.trim()).filter((t) => t);
  if (!texts.length) { show("type a text to classify"); return; }
  const rows = [];
  try {
    for (let start = 0; start < texts.length; start += UPLOAD_FILES) {
      const part = { texts: texts.slice(start, start + UPLOAD_FILES) };
      rows.push(...(await postJson(`${projectPath()}/runs/${encodeURIComponent(lastRun)}/predict`, part)).predictions);
      showPredictions(rows);
    }
    show("");
  } catch (error) { show(error.message); }
});

listProjects().catch((error) => show(error.message));
