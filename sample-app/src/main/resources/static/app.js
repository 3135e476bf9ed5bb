// The sample assistant's page: plain JavaScript against the REST API (docs/sample-app.md), nothing loaded from
// elsewhere. Teaching progress comes as server-sent events through EventSource; the answer streams from a POST, so
// its events are read from the fetch body.
"use strict";

const MODALITIES = ["system", "image", "question", "answer"];
const $ = (id) => document.getElementById(id);

let chosenImage = null;   // {blob, name}: a held-out picture clicked, or the file picked
let teaching = null;      // {taskId, jobId, source}
let shownTask = null;

// ---------- helpers ----------

function problemText(problem, fallback) {
  if (!problem) return fallback;
  return (problem.title ? problem.title + ": " : "") + (problem.detail || fallback || "");
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch (e) {
    return { title: response.status + " " + response.statusText };
  }
}

function bytes(n) {
  if (n == null) return "";
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

function seconds(ms) {
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(2) + " s";
}

function percent(x) {
  return (100 * x).toFixed(1) + "%";
}

function svg(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, value);
  if (text != null) element.textContent = text;
  return element;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

// ---------- info, examples, tasks ----------

async function loadInfo() {
  const response = await fetch("api/info");
  if (!response.ok) {
    $("model-line").textContent = problemText(await problemOf(response), "Could not read /api/info");
    return;
  }
  const info = await response.json();
  const m = info.model;
  $("model-line").textContent = (m.demoModel ? "Demo model" : "Model") + " " + m.modelName + " · " + m.modelType + ", "
    + m.layers + " layers, " + m.device + " · store: " + m.store + " · namespace " + m.namespace;
  const example = info.examples.find((e) => e.name === "shapes") || info.examples[0];
  if (!example) {
    $("teach-example").disabled = true;
    return;
  }
  $("teach-example").dataset.example = example.name;
  const labels = [...new Set(example.heldOut.map((h) => h.label))].join(", ");
  $("example-note").textContent = example.demonstrations + " pictures, " + example.heldOut.length
    + " held-out; labels " + labels + " (" + example.name + ")";
  if (example.question) $("ask-question").value = example.question;
  const heldOut = $("held-out");
  heldOut.textContent = "Held-out pictures (click one to ask about it):";
  for (const query of example.heldOut) {
    const img = document.createElement("img");
    img.src = query.image.replace(/^\//, "");
    img.alt = "held-out picture";
    img.title = "expected: " + query.label;
    img.addEventListener("click", () => chooseHeldOut(img, query));
    heldOut.appendChild(img);
  }
}

async function chooseHeldOut(img, query) {
  const response = await fetch(img.src);
  chosenImage = { blob: await response.blob(), name: query.image.split("/").pop() };
  $("ask-image").value = "";
  document.querySelectorAll("#held-out img").forEach((other) => other.classList.toggle("chosen", other === img));
  showPreview(chosenImage.blob);
}

function showPreview(blob) {
  const preview = $("ask-preview");
  if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  preview.hidden = false;
}

async function loadTasks(select) {
  const response = await fetch("api/tasks");
  if (!response.ok) return;
  const tasks = await response.json();
  const body = $("task-table").querySelector("tbody");
  body.replaceChildren();
  const askTask = $("ask-task");
  const current = select || askTask.value;
  askTask.replaceChildren(new Option("(none: a plain answer)", ""));
  for (const task of tasks) {
    const row = document.createElement("tr");
    row.dataset.taskId = task.taskId;
    cell(row, task.taskId);
    cell(row, task.demonstrations, "num");
    cell(row, task.tokensSeen, "num");
    cell(row, percent(task.keptFraction), "num");
    cell(row, bytes(task.storedBytes), "num");
    cell(row, new Date(task.createdAt).toLocaleTimeString());
    const actions = cell(row, "");
    const show = document.createElement("button");
    show.className = "secondary";
    show.textContent = "Show";
    show.addEventListener("click", () => showTask(task.taskId));
    const forget = document.createElement("button");
    forget.className = "secondary forget";
    forget.textContent = "Forget";
    forget.addEventListener("click", () => forgetTask(task.taskId));
    actions.append(show, " ", forget);
    body.appendChild(row);
    askTask.appendChild(new Option(task.taskId, task.taskId));
  }
  if (tasks.some((t) => t.taskId === current)) askTask.value = current;
  $("tasks-empty").hidden = tasks.length > 0;
  return tasks;
}

async function showTask(taskId) {
  const response = await fetch("api/tasks/" + encodeURIComponent(taskId));
  if (!response.ok) {
    $("result-title").textContent = problemText(await problemOf(response), "Could not read the task");
    return;
  }
  renderResult(await response.json());
}

async function forgetTask(taskId) {
  const response = await fetch("api/tasks/" + encodeURIComponent(taskId), { method: "DELETE" });
  if (!response.ok && response.status !== 404) {
    alert(problemText(await problemOf(response), "Could not forget the task"));
  }
  if (shownTask === taskId) {
    shownTask = null;
    $("chart").replaceChildren();
    $("totals").replaceChildren();
    $("result-title").textContent = "Task '" + taskId + "' was forgotten.";
  }
  await loadTasks();
}

// ---------- teaching ----------

function taskId() {
  const input = $("task-id");
  if (!input.reportValidity()) return null;
  return input.value.trim();
}

async function teachExample() {
  const id = taskId();
  if (!id) return;
  const example = $("teach-example").dataset.example;
  await startTeaching(id, "api/tasks/" + encodeURIComponent(id) + "/teach?example=" + encodeURIComponent(example), null);
}

async function teachUploads(event) {
  event.preventDefault();
  const id = taskId();
  if (!id) return;
  const form = new FormData();
  for (const file of $("teach-images").files) form.append("images", file, file.name);
  const jsonl = $("teach-jsonl").files[0];
  if (jsonl) {
    form.append("jsonl", jsonl, jsonl.name);
  } else {
    const answers = $("teach-answers").value.split("\n").map((a) => a.trim()).filter((a) => a.length > 0);
    for (const answer of answers) form.append("answers", answer);
    const question = $("teach-question").value.trim();
    if (question) form.append("question", question);
  }
  await startTeaching(id, "api/tasks/" + encodeURIComponent(id) + "/teach", form);
}

function setTeachState(state, text, className) {
  const status = $("teach-status");
  status.dataset.state = state;
  status.textContent = text;
  status.className = className || "muted";
  const busy = state === "queued" || state === "running";
  $("teach-example").disabled = busy;
  $("teach-form").querySelector("button").disabled = busy;
  $("teach-cancel").hidden = !busy;
}

async function startTeaching(id, url, body) {
  $("teach-progress").value = 0;
  setTeachState("queued", "Sending the demonstrations…");
  let response;
  try {
    response = await fetch(url, { method: "POST", body });
  } catch (e) {
    setTeachState("failed", "Could not reach the server: " + e, "error");
    return;
  }
  if (response.status !== 202) {
    setTeachState("failed", problemText(await problemOf(response), "Teaching was refused"), "error");
    return;
  }
  const job = await response.json();
  teaching = { taskId: id, jobId: job.jobId };
  setTeachState("queued", "Queued: " + job.demonstrations + " demonstrations for task '" + id + "'…");
  followJob(response.headers.get("Location") || ("api/tasks/" + id + "/teach/" + job.jobId + "/events"), id);
}

function followJob(eventsUrl, id) {
  const events = new EventSource(eventsUrl.replace(/^\//, ""));
  let finished = false;
  events.addEventListener("progress", (e) => showProgress(JSON.parse(e.data)));
  events.addEventListener("report", async (e) => {
    finished = true;
    events.close();
    const details = JSON.parse(e.data);
    $("teach-progress").value = 1;
    const r = details.report;
    setTeachState("done", details.compressed === false
      ? "Task '" + id + "' was already up to date: nothing to compress."
      : "Taught '" + id + "': " + details.task.demonstrations + " demonstrations compressed in "
        + seconds(r.compressionMillis) + ", " + percent(details.task.keptFraction) + " of the tokens kept.");
    teaching = null;
    renderResult(details);
    await loadTasks(id);
  });
  events.addEventListener("error", (e) => {
    if (finished) return;
    finished = true;
    events.close();
    teaching = null;
    if (e.data) {
      const problem = JSON.parse(e.data);
      setTeachState(problem.code === "cancelled" ? "cancelled" : "failed", problemText(problem), "error");
    } else {
      setTeachState("failed", "Lost the connection to the progress stream.", "error");
    }
  });
}

function showProgress(p) {
  $("teach-progress").value = p.completion;
  let text;
  switch (p.phase) {
    case "STARTED": text = "Started."; break;
    case "CHUNK_STARTED": text = "Chunk " + (p.chunk + 1) + " of " + p.chunks + ": encoding…"; break;
    case "LAYER_DONE": text = "Chunk " + (p.chunk + 1) + " of " + p.chunks + ": layer " + p.layer + " keeps "
      + (p.keptFraction == null ? "?" : percent(p.keptFraction)); break;
    case "CHUNK_DONE": text = "Chunk " + (p.chunk + 1) + " of " + p.chunks + " done."; break;
    case "DONE": text = "Stored."; break;
    default: text = p.phase;
  }
  setTeachState("running", text + " (" + percent(p.completion) + ")");
}

async function cancelTeaching() {
  if (!teaching) return;
  await fetch("api/tasks/" + encodeURIComponent(teaching.taskId) + "/teach/" + teaching.jobId, { method: "DELETE" });
}

// ---------- the result: tokens kept per layer and modality ----------

function renderResult(details) {
  shownTask = details.task.taskId;
  const t = details.task;
  const r = details.report;
  $("result-title").className = "";
  $("result-title").textContent = "Task '" + t.taskId + "': " + t.demonstrations + " demonstrations, "
    + r.tokensSeen + " tokens seen; each of the " + r.layers.length + " layers keeps "
    + r.keptPerLayer.toFixed(1) + " on average (" + percent(t.keptFraction) + "), " + bytes(t.storedBytes)
    + " stored, compressed in " + seconds(r.compressionMillis) + ".";
  $("chart").replaceChildren(chart(r));
  $("totals").replaceChildren(totals(r));
}

function chart(report) {
  const width = 760, height = 300, left = 48, right = 12, top = 14, bottom = 54;
  const layers = report.layers;
  const top_ = Math.max(report.tokensSeen, ...layers.map((l) => l.kept), 1);
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const slot = plotWidth / Math.max(layers.length, 1);
  const barWidth = Math.max(2, Math.min(48, slot * 0.7));
  const y = (tokens) => top + plotHeight * (1 - tokens / top_);
  const root = svg("svg", { id: "retention-chart", viewBox: "0 0 " + width + " " + height, role: "img",
    "aria-label": "Tokens kept per layer, by modality" });
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const tokens = Math.round(top_ * tick);
    root.appendChild(svg("line", { class: "axis", x1: left, x2: width - right, y1: y(tokens), y2: y(tokens) }));
    root.appendChild(svg("text", { x: left - 6, y: y(tokens) + 4, "text-anchor": "end" }, tokens));
  }
  const labelEvery = Math.ceil(layers.length / 28);
  layers.forEach((layer, i) => {
    const x = left + i * slot + (slot - barWidth) / 2;
    const seen = svg("rect", { class: "seen", x, y: y(report.tokensSeen), width: barWidth,
      height: y(0) - y(report.tokensSeen) });
    seen.appendChild(svg("title", {}, "layer " + layer.layer + ": " + report.tokensSeen + " tokens seen"));
    root.appendChild(seen);
    let base = 0;
    for (const m of MODALITIES) {
      const n = layer.keptByModality[m] || 0;
      if (n <= 0) continue;
      const rect = svg("rect", { class: "bar " + m, "data-layer": layer.layer, "data-modality": m, x,
        y: y(base + n), width: barWidth, height: Math.max(0.5, y(base) - y(base + n)) });
      rect.appendChild(svg("title", {}, "layer " + layer.layer + ", " + m + ": " + n.toFixed(1) + " tokens kept"));
      root.appendChild(rect);
      base += n;
    }
    if (i % labelEvery === 0) {
      root.appendChild(svg("text", { x: x + barWidth / 2, y: height - bottom + 14, "text-anchor": "middle" }, layer.layer));
    }
  });
  root.appendChild(svg("text", { x: left + plotWidth / 2, y: height - bottom + 30, "text-anchor": "middle" },
    "layer (grey: all " + report.tokensSeen + " demonstration tokens; colours: tokens kept)"));
  let lx = left;
  for (const m of MODALITIES) {
    root.appendChild(svg("rect", { class: m, x: lx, y: height - 14, width: 10, height: 10 }));
    root.appendChild(svg("text", { x: lx + 14, y: height - 5 }, m));
    lx += 90;
  }
  return root;
}

function totals(report) {
  const table = document.createElement("table");
  table.id = "totals-table";
  const head = table.createTHead().insertRow();
  for (const [text, num] of [["Modality", false], ["Tokens seen", true], ["Kept per layer (avg)", true], ["Kept", true]]) {
    const th = document.createElement("th");
    th.textContent = text;
    if (num) th.className = "num";
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const m of MODALITIES) {
    const row = body.insertRow();
    const name = cell(row, "");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = "var(--" + m + ")";
    name.append(swatch, m);
    const seen = report.seenByModality[m] || 0;
    const kept = report.keptByModality[m] || 0;
    cell(row, seen, "num");
    cell(row, kept.toFixed(1), "num");
    cell(row, seen ? percent(kept / seen) : "–", "num");
  }
  const total = body.insertRow();
  cell(total, "total");
  cell(total, report.tokensSeen, "num");
  cell(total, report.keptPerLayer.toFixed(1), "num");
  cell(total, report.tokensSeen ? percent(report.keptPerLayer / report.tokensSeen) : "–", "num");
  const phases = Object.entries(report.phaseMillis).map(([p, ms]) => p + " " + seconds(ms)).join(" · ");
  const caption = table.createCaption();
  caption.className = "muted";
  caption.textContent = "Compression took " + seconds(report.compressionMillis) + (phases ? " (" + phases + ")" : "")
    + "; " + report.chunks.length + " chunk(s), " + report.tokensKept + " tokens kept over all layers.";
  caption.style.captionSide = "bottom";
  caption.style.textAlign = "left";
  return table;
}

// ---------- asking ----------

function parseEvent(frame) {
  let name = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return { name, data: data.join("\n") };
}

async function ask(event) {
  event.preventDefault();
  const answer = $("answer");
  const meta = $("answer-meta");
  const form = new FormData();
  form.append("question", $("ask-question").value);
  const task = $("ask-task").value;
  if (task) form.append("taskId", task);
  const file = $("ask-image").files[0];
  if (file) form.append("image", file, file.name);
  else if (chosenImage) form.append("image", chosenImage.blob, chosenImage.name);
  answer.textContent = "";
  answer.className = "";
  answer.dataset.state = "streaming";
  meta.textContent = "";
  $("ask-button").disabled = true;
  try {
    const response = await fetch("api/ask", { method: "POST", body: form,
      headers: { Accept: "text/event-stream, application/problem+json" } });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.startsWith("text/event-stream")) {
      answer.dataset.state = "failed";
      answer.className = "error";
      answer.textContent = problemText(await problemOf(response), "The question was refused");
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        onAnswerEvent(frame);
      }
    }
    if (answer.dataset.state === "streaming") {
      answer.dataset.state = "failed";
      meta.textContent = "The stream ended without an answer.";
    }
  } catch (e) {
    answer.dataset.state = "failed";
    meta.textContent = "Could not reach the server: " + e;
  } finally {
    $("ask-button").disabled = false;
  }
}

function onAnswerEvent(frame) {
  const answer = $("answer");
  if (frame.name === "token") {
    answer.textContent += JSON.parse(frame.data).text;
  } else if (frame.name === "done") {
    const d = JSON.parse(frame.data);
    answer.dataset.state = "done";
    answer.dataset.completionTokens = d.completionTokens == null ? "" : d.completionTokens;
    $("answer-meta").textContent = (d.memory === "used" ? "answered with the memory of '" + d.taskId + "' ("
      + d.memoryTokensPerLayer + " tokens per layer standing for " + d.memoryContextTokens + ")" : "no task memory")
      + " · " + d.promptTokens + " prompt tokens, " + d.completionTokens + " generated (" + d.finishReason + ")"
      + (d.firstTokenMillis == null ? "" : " · first token " + seconds(d.firstTokenMillis)) + " · " + seconds(d.millis);
  } else if (frame.name === "error") {
    answer.dataset.state = "failed";
    answer.className = "error";
    answer.textContent = problemText(JSON.parse(frame.data));
  }
}

// ---------- wiring ----------

$("teach-example").addEventListener("click", teachExample);
$("teach-form").addEventListener("submit", teachUploads);
$("teach-cancel").addEventListener("click", cancelTeaching);
$("ask-form").addEventListener("submit", ask);
$("ask-image").addEventListener("change", () => {
  const file = $("ask-image").files[0];
  chosenImage = null;
  document.querySelectorAll("#held-out img").forEach((img) => img.classList.remove("chosen"));
  if (file) showPreview(file);
});

loadInfo();
loadTasks().then((tasks) => {
  if (tasks && tasks.length > 0) showTask(tasks[0].taskId);
});
