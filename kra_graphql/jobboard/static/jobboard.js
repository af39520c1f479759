// The job board: recent jobs from `jobs`, new ones and status changes from `jobEvents`,
// a live bar per unfinished job from `jobProgress`, cancellation through `cancelJob`.
// Queries and mutations go over HTTP (Authorization: Bearer); subscriptions over
// graphql-transport-ws with the official graphql-ws client (vendor/, 6.4.2), whose
// connection_init payload carries {apiKey}. It connects without a key on load, which
// works where anonymous reads are allowed (development).
"use strict";

(() => {
  const TERMINAL = new Set(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"]);
  const JOB =
    "id kind status progress totalSteps completedSteps currentStep estimatedCompletion error createdAt updatedAt";
  const JOBS = `query Jobs($first: Int!) { jobs(first: $first) { edges { node { ${JOB} } } } }`;
  const EVENTS = `subscription Events { jobEvents { sequence job { ${JOB} } } }`;
  const PROGRESS = `subscription Progress($id: ID!) { jobProgress(id: $id) { sequence type job { ${JOB} } } }`;
  const CANCEL = `mutation Cancel($id: ID!) { cancelJob(id: $id) { ${JOB} } }`;
  const PAGE = 25;
  // Jobs queued before the board connected publish nothing until they start: a light
  // periodic re-read catches them, and anything missed while a socket reconnected.
  const REFRESH_MS = 5000;

  const httpUrl = new URL("/graphql", window.location.href);
  const wsUrl = httpUrl.href.replace(/^http/, "ws");

  const form = document.getElementById("connect");
  const state = document.getElementById("state");
  const errorBox = document.getElementById("error");
  const tbody = document.querySelector("#jobs tbody");
  const empty = document.getElementById("empty");

  let key = "";
  let socket = null;
  let refresher = null;
  let ticker = null;
  let attempts = 0;
  const rows = new Map(); // job id -> {row, job}
  const followed = new Map(); // job id -> unsubscribe function

  class GraphQLRequestError extends Error {}

  function describe(errors) {
    const first = (Array.isArray(errors) ? errors[0] : errors) || {};
    const code = first.extensions && first.extensions.code;
    const message = first.message || String(first);
    return code ? `${code}: ${message}` : message;
  }

  function showError(error) {
    if (error instanceof Error) errorBox.textContent = error.message;
    else if (error && typeof error.code === "number") errorBox.textContent = `socket closed ${error.code}: ${error.reason || "no reason given"}`;
    else errorBox.textContent = describe(error);
    errorBox.hidden = false;
  }

  function setState(name, text) {
    state.dataset.state = name;
    state.textContent = text;
  }

  async function request(query, variables) {
    const headers = { "Content-Type": "application/json" };
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(httpUrl, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
    let body = null;
    try {
      body = await response.json();
    } catch {
      throw new GraphQLRequestError(`HTTP ${response.status} from ${httpUrl.pathname}`);
    }
    if (body.errors && body.errors.length) throw new GraphQLRequestError(describe(body.errors));
    return body.data;
  }

  function eta(job) {
    if (TERMINAL.has(job.status) || !job.estimatedCompletion) return "";
    const seconds = Math.max(0, Math.round((Date.parse(job.estimatedCompletion) - Date.now()) / 1000));
    const minutes = Math.floor(seconds / 60);
    return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function cell(row, className) {
    const td = document.createElement("td");
    td.className = className;
    row.appendChild(td);
    return td;
  }

  function createRow(job) {
    const row = document.createElement("tr");
    row.dataset.jobId = job.id;
    cell(row, "id").textContent = job.id;
    cell(row, "kind").textContent = job.kind;
    cell(row, "status");
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-label", `progress of ${job.id}`);
    bar.innerHTML = '<div class="fill"></div><span class="label"></span>';
    cell(row, "progress").appendChild(bar);
    cell(row, "step");
    cell(row, "eta");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "cancel";
    button.textContent = "Cancel";
    button.addEventListener("click", () => cancel(job.id, button));
    cell(row, "actions").appendChild(button);
    return row;
  }

  function place(row, job) {
    // Newest first, wherever the job came from (the list, an event, a re-read).
    for (const other of rows.values()) {
      if (Date.parse(other.job.createdAt) < Date.parse(job.createdAt)) {
        tbody.insertBefore(row, other.row);
        return;
      }
    }
    tbody.appendChild(row);
  }

  function update(job) {
    let entry = rows.get(job.id);
    if (!entry) {
      const row = createRow(job);
      place(row, job);
      entry = { row, job };
      rows.set(job.id, entry);
      empty.hidden = true;
    } else if (Date.parse(job.updatedAt) < Date.parse(entry.job.updatedAt)) {
      // An HTTP answer can arrive after a newer event: keep the newer state.
      return;
    }
    entry.job = job;
    const { row } = entry;
    row.dataset.status = job.status;
    row.querySelector(".status").textContent = job.status;
    const bar = row.querySelector(".bar");
    bar.setAttribute("aria-valuenow", String(job.progress));
    bar.querySelector(".fill").style.width = `${job.progress}%`;
    const steps = job.totalSteps ? ` · ${job.completedSteps}/${job.totalSteps}` : "";
    bar.querySelector(".label").textContent = `${job.progress}%${steps}`;
    row.querySelector(".step").textContent = job.error || job.currentStep || "";
    row.querySelector(".step").title = job.error || job.currentStep || "";
    row.querySelector(".eta").textContent = eta(job);
    row.querySelector(".cancel").hidden = TERMINAL.has(job.status);
    if (!TERMINAL.has(job.status)) follow(job.id);
  }

  function follow(id) {
    if (followed.has(id) || !socket) return;
    const stop = socket.subscribe(
      { query: PROGRESS, variables: { id } },
      {
        next: (result) => {
          if (result.errors) showError(result.errors);
          else update(result.data.jobProgress.job);
        },
        error: (error) => {
          followed.delete(id);
          showError(error);
        },
        complete: () => followed.delete(id),
      },
    );
    followed.set(id, stop);
  }

  async function cancel(id, button) {
    button.disabled = true;
    try {
      const data = await request(CANCEL, { id });
      update(data.cancelJob);
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  }

  async function refresh() {
    const data = await request(JOBS, { first: PAGE });
    for (const edge of data.jobs.edges) update(edge.node);
    empty.hidden = rows.size > 0;
  }

  function disconnect() {
    clearInterval(refresher);
    clearInterval(ticker);
    for (const stop of followed.values()) stop();
    followed.clear();
    if (socket) socket.dispose();
    socket = null;
    rows.clear();
    tbody.replaceChildren();
  }

  function connect(event) {
    event.preventDefault();
    key = form.elements.key.value.trim();
    start({ quiet: false });
  }

  async function start({ quiet }) {
    const attempt = ++attempts;
    disconnect();
    errorBox.hidden = true;
    setState("connecting", "connecting…");
    try {
      await refresh();
    } catch (error) {
      if (attempt !== attempts) return;
      // Without a key the first attempt only probes for anonymous reads (development):
      // a refusal there just means a key is needed.
      if (quiet) {
        setState("idle", "not connected");
        return;
      }
      setState("error", "not connected");
      showError(error);
      return;
    }
    // A later Connect superseded this attempt while its list was loading.
    if (attempt !== attempts) return;
    socket = window.graphqlWs.createClient({
      url: wsUrl,
      connectionParams: () => (key ? { apiKey: key } : {}),
      retryAttempts: Infinity,
      // Reconnect through restarts and network blips, but not past a rejected key.
      shouldRetry: (event) => !(event && (event.code === 4401 || event.code === 4403)),
      on: {
        connected: () => setState("live", "live"),
        closed: (closeEvent) => {
          if (!socket) return;
          const rejected = closeEvent && (closeEvent.code === 4401 || closeEvent.code === 4403);
          setState(rejected ? "error" : "connecting", rejected ? "key rejected" : "reconnecting…");
          if (rejected) showError(closeEvent);
        },
      },
    });
    socket.subscribe(
      { query: EVENTS },
      {
        next: (result) => {
          if (result.errors) showError(result.errors);
          else update(result.data.jobEvents.job);
        },
        error: (error) => showError(error),
        complete: () => {},
      },
    );
    for (const { job } of rows.values()) if (!TERMINAL.has(job.status)) follow(job.id);
    refresher = setInterval(() => refresh().catch(showError), REFRESH_MS);
    // The estimate counts down between events.
    ticker = setInterval(() => {
      for (const { row, job } of rows.values()) row.querySelector(".eta").textContent = eta(job);
    }, 1000);
  }

  form.addEventListener("submit", connect);
  // Where anonymous reads are allowed the board lists jobs at once; a key is still
  // needed to cancel, and everywhere reads are not anonymous.
  start({ quiet: true });
})();
