// The dashboard: polls cliwrap's API and draws what it says.
//
// Which optional endpoints this server has (/v1/auth/status, /v1/usage) is read from its
// /openapi.json, so a server without them is never asked (no 404s in the console).

import { ApiError, call, currentKey, setKey, streamChat } from "./api.js";
import { barChart, columnChart } from "./charts.js";

const LIVE_EVERY = 1000; // ms between refreshes of the runs
const SLOW_EVERY = 5000; // ms between refreshes of the CLIs and the usage

const $ = (id) => document.getElementById(id);
let paths = new Set();
let needsKey = false;
let lastRecent = [];
const versions = {}; // CLI -> version, from /v1/models
let tryController = null;
let tryRequestId = null;

function notice(message) {
  const box = $("notice");
  box.textContent = message || "";
  box.hidden = !message;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
  if (className) {
    td.className = className;
  }
  row.append(td);
  return td;
}

function ms(value) {
  if (value === null || value === undefined) {
    return "—";
  }
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function ago(isoOrNull) {
  if (!isoOrNull) {
    return "never";
  }
  const seconds = Math.round((Date.now() - Date.parse(isoOrNull)) / 1000);
  return seconds < 60 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

function stateClass(state) {
  if (state === "finished") return "good";
  if (state === "running" || state === "queued") return "busy";
  if (state === "cancelled" || state === "disconnected") return "muted";
  return "bad";
}

// --- the CLIs -------------------------------------------------------------------------

async function refreshClis() {
  const health = await call("/health");
  $("server-status").textContent = `v${health.version} · ${health.status}`;
  let status = null;
  if (paths.has("/v1/auth/status") && !needsKey) {
    status = (await call("/v1/auth/status")).providers;
  }
  const rows = Object.entries(health.providers).map(([name, info]) => {
    const row = document.createElement("tr");
    const login = status && status[name];
    cell(row, name);
    cell(row, info.installed ? "yes" : "no", info.installed ? "good" : "bad");
    cell(row, (login && login.version) || versions[name] || null);
    if (login) {
      const healthy = login.healthy;
      const text = healthy === null ? "unknown" : healthy ? "logged in" : "logged out";
      const td = cell(row, text, healthy === null ? "muted" : healthy ? "good" : "bad");
      if (login.hint) {
        td.title = login.hint;
      }
      cell(row, ago(login.checked_at));
    } else {
      cell(row, "not reported", "muted");
      cell(row, null);
    }
    return row;
  });
  $("cli-rows").replaceChildren(...rows);
}

// --- live runs and recent requests ------------------------------------------------------

function liveRow(run) {
  const row = document.createElement("tr");
  row.dataset.id = run.id;
  cell(row, run.id, "id");
  cell(row, run.surface);
  cell(row, run.key || "—");
  cell(row, run.model);
  cell(row, run.state, stateClass(run.state));
  cell(row, ms(run.first_output_ms));
  cell(row, ms(run.duration_ms));
  const td = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "cancel";
  button.textContent = "Cancel";
  button.addEventListener("click", () => cancelRun(run.id, button));
  td.append(button);
  row.append(td);
  return row;
}

function recentRow(run) {
  const row = document.createElement("tr");
  cell(row, run.id, "id");
  cell(row, run.surface);
  cell(row, run.key || "—");
  cell(row, run.model);
  cell(row, run.state, stateClass(run.state));
  cell(row, run.status);
  cell(row, ms(run.first_output_ms));
  cell(row, ms(run.duration_ms));
  return row;
}

async function cancelRun(id, button) {
  button.disabled = true;
  try {
    await call(`/v1/requests/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (error) {
    notice(`Could not cancel ${id}: ${error.message}`);
  }
  await refreshRuns();
}

async function refreshRuns() {
  const runs = await call("/v1/requests");
  $("live-count").textContent = runs.live.length;
  $("running").textContent = runs.live.filter((run) => run.state === "running").length;
  $("queued").textContent = runs.queued;
  $("live-rows").replaceChildren(...runs.live.map(liveRow));
  if (!runs.live.length) {
    const row = document.createElement("tr");
    const td = cell(row, "No run right now.", "muted");
    td.colSpan = 8;
    $("live-rows").replaceChildren(row);
  }
  $("recent-rows").replaceChildren(...runs.recent.map(recentRow));
  const oldestFirst = [...runs.recent].reverse();
  columnChart(
    $("duration-chart"),
    oldestFirst.map((run) => ({
      value: run.duration_ms || 0,
      kind: run.state === "finished" ? "ok" : stateClass(run.state) === "muted" ? "stopped" : "failed",
      title: `${run.id}: ${run.state}, ${ms(run.duration_ms)}`,
    })),
    { unit: " ms", empty: "No request has ended yet." },
  );
  lastRecent = runs.recent;
  if (!paths.has("/v1/usage")) {
    await refreshUsage();
  }
}

// --- usage -------------------------------------------------------------------------------

function totals(rows, field, value) {
  const sums = new Map();
  for (const row of rows) {
    const name = row[field] || "(no key)";
    sums.set(name, (sums.get(name) || 0) + value(row));
  }
  return [...sums.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([label, total]) => ({ label, value: total }));
}

async function refreshUsage() {
  if (paths.has("/v1/usage")) {
    const usage = await call("/v1/usage");
    const tokens = (row) => (row.input_tokens || 0) + (row.output_tokens || 0);
    $("usage-source").textContent = "Tokens (input + output), from /v1/usage.";
    barChart($("usage-keys"), totals(usage.data, "key", tokens), { unit: " tok" });
    barChart($("usage-models"), totals(usage.data, "model", tokens), { unit: " tok" });
    return;
  }
  // Without a usage store: requests among the last ones that ended.
  $("usage-source").textContent = `Requests among the last ${lastRecent.length} that ended.`;
  barChart($("usage-keys"), totals(lastRecent, "key", () => 1), { empty: "No request yet." });
  barChart($("usage-models"), totals(lastRecent, "model", () => 1), { empty: "No request yet." });
}

// --- try a prompt ------------------------------------------------------------------------

async function loadModels() {
  const models = await call("/v1/models");
  for (const model of models.data) {
    if (model.cli_version && model.provider) {
      versions[model.provider] = model.cli_version;
    }
  }
  const select = $("try-model");
  const installed = models.data.filter((model) => model.installed !== false);
  const options = [...installed, ...models.data.filter((model) => model.installed === false)].map((model) => {
    const option = document.createElement("option");
    option.value = model.id;
    option.textContent = model.installed === false ? `${model.id} (not installed)` : model.id;
    return option;
  });
  select.replaceChildren(...options);
}

async function tryPrompt(event) {
  event.preventDefault();
  const output = $("try-output");
  const prompt = $("try-prompt").value.trim() || $("try-prompt").placeholder;
  output.textContent = "";
  output.className = "output";
  tryController = new AbortController();
  tryRequestId = `dashboard-${crypto.randomUUID()}`;
  $("try-send").disabled = true;
  $("try-stop").disabled = false;
  try {
    await streamChat(
      $("try-model").value,
      prompt,
      tryRequestId,
      (text) => {
        output.textContent += text;
      },
      tryController.signal,
    );
  } catch (error) {
    if (error.name !== "AbortError") {
      output.className = "output failed";
      output.textContent += `\n[${error.code || "error"}] ${error.message}`;
    }
  } finally {
    $("try-send").disabled = false;
    $("try-stop").disabled = true;
    tryController = null;
  }
}

async function stopTry() {
  if (tryRequestId) {
    try {
      await call(`/v1/requests/${encodeURIComponent(tryRequestId)}`, { method: "DELETE" });
    } catch {
      tryController?.abort(); // already over, or not ours to cancel: just stop reading
    }
  }
}

// --- the loop ----------------------------------------------------------------------------

async function guarded(step) {
  try {
    await step();
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      needsKey = true;
      notice(currentKey() ? "That key was refused." : "This server needs an API key.");
      $("key").focus();
    } else {
      notice(`Could not reach cliwrap: ${error.message}`);
    }
    return false;
  }
}

function every(interval, step) {
  const tick = async () => {
    if (!needsKey || step === refreshClis) {
      await guarded(step);
    }
    setTimeout(tick, interval);
  };
  tick();
}

async function start() {
  $("key").value = currentKey();
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    setKey($("key").value.trim());
    needsKey = false;
    notice("");
    if (await guarded(refreshRuns)) {
      await guarded(loadModels);
      await guarded(refreshClis);
    }
  });
  $("try-form").addEventListener("submit", tryPrompt);
  $("try-stop").addEventListener("click", stopTry);
  const document_ = await call("/openapi.json").catch(() => ({ paths: {} }));
  paths = new Set(Object.keys(document_.paths || {}));
  const health = await call("/health").catch(() => ({}));
  if (health.key_required && !currentKey()) {
    // Asking without a key would only be refused (and the browser would log each 401).
    needsKey = true;
    notice("This server needs an API key.");
  }
  if (!needsKey) {
    await guarded(loadModels);
  }
  await guarded(refreshClis);
  every(LIVE_EVERY, refreshRuns);
  setTimeout(() => every(SLOW_EVERY, refreshClis), SLOW_EVERY);
  if (paths.has("/v1/usage")) {
    every(SLOW_EVERY, refreshUsage);
  }
}

start();
