// The task page: renders /api/v1/task/ and polls it while tasks run. No build step, no
// dependencies. Every value reaches the DOM through textContent, never innerHTML.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("page-config").textContent);
  const ACTIVE = new Set(["pending", "in_progress", "aborting"]);
  const FAST_MS = 2000; // while a task on the page is active
  const SLOW_MS = 10000; // otherwise
  const state = { status: "", offset: 0, limit: 25, open: new Set(), timer: null, busy: false };
  const body = document.getElementById("tasks");
  const message = document.getElementById("message");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function number(value) {
    return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
    if (m) return `${m}m ${String(r).padStart(2, "0")}s`;
    return `${r}s`;
  }

  function when(iso) {
    if (!iso) return "—";
    return iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", "");
  }

  function progressText(task) {
    const p = task.progress;
    const pct = p.fraction === null ? null : Math.floor(p.fraction * 100);
    if (p.current !== null && p.total !== null) {
      return `${number(p.current)} of ${number(p.total)} (${pct}%)`;
    }
    if (pct !== null) return `${pct}%`;
    if (p.current !== null) return `${number(p.current)} done`;
    return "—";
  }

  function progressCell(task) {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${Math.min(100, (task.progress.fraction || 0) * 100)}%`;
    const text = el("div", { class: "progress-text" }, progressText(task));
    const eta = task.progress.eta_seconds;
    if (ACTIVE.has(task.status) && eta !== null) {
      text.append(el("span", { class: "eta muted" }, ` · ETA ${duration(eta)}`));
    }
    return el("td", { class: "progress" }, el("div", { class: "bar" }, fill), text);
  }

  function actionsCell(task) {
    const box = el("div", { class: "actions" });
    const cancel = el("button", { class: "cancel", type: "button" }, "Cancel");
    if (task.cancellable) {
      cancel.addEventListener("click", () => cancelTask(task, false));
    } else {
      cancel.disabled = true;
      cancel.title = task.cancel_blocked_reason;
    }
    box.append(cancel);
    // Force matters only for shared tasks: it aborts them for every subscriber.
    const forceUseful = task.scope === "shared" && ACTIVE.has(task.status);
    if (config.admin && forceUseful && task.status !== "aborting") {
      const force = el("button", { class: "force", type: "button" }, "Force cancel");
      force.title = "abort for every subscriber";
      force.addEventListener("click", () => cancelTask(task, true));
      box.append(force);
    }
    const details = el("button", { class: "toggle", type: "button" },
      state.open.has(task.uuid) ? "Hide" : "Details");
    details.addEventListener("click", () => {
      if (state.open.has(task.uuid)) state.open.delete(task.uuid);
      else state.open.add(task.uuid);
      refresh();
    });
    box.append(details);
    if (!task.cancellable) box.append(el("span", { class: "reason" }, task.cancel_blocked_reason));
    return el("td", {}, box);
  }

  function json(value) {
    return value === null || value === undefined ? "—" : JSON.stringify(value, null, 2);
  }

  function detailsRow(task) {
    const facts = el("dl", {});
    const add = (label, value) => facts.append(el("dt", {}, label), el("dd", {}, value));
    add("uuid", task.uuid);
    add("name", task.name);
    add("key", task.task_key || "—");
    add("attempt", task.attempt);
    add("created by", task.created_by || "system");
    add("started", when(task.started_at));
    add("ended", when(task.ended_at));
    const cell = el("td", { colSpan: 8 }, facts,
      el("div", { class: "muted" }, "Payload"), el("pre", { class: "payload" }, json(task.payload)));
    if (task.result !== null) {
      cell.append(el("div", { class: "muted" }, "Result"),
        el("pre", { class: "result" }, json(task.result)));
    }
    if (task.error_message || task.stack_trace) {
      cell.append(el("div", { class: "muted" }, `Error (${task.exception_type || "unknown"})`),
        el("pre", { class: "error-message" }, task.error_message || ""),
        el("div", { class: "muted" }, "Stack trace"),
        el("pre", { class: "stack-trace" }, task.stack_trace || "—"));
    }
    return el("tr", { class: "details", "data-uuid": task.uuid }, cell);
  }

  function row(task) {
    const title = task.task_name || task.name;
    return el("tr", { class: "task", "data-uuid": task.uuid, "data-status": task.status },
      el("td", { class: "task" }, el("div", { class: "title" }, title),
        el("div", { class: "sub" }, `${task.name} · ${task.uuid.slice(0, 8)}`)),
      el("td", {}, el("span", { class: `status ${task.status}` }, task.status.replace("_", " "))),
      progressCell(task),
      el("td", { class: "scope" }, task.scope),
      el("td", { class: "subscribers" }, task.subscribers.join(", ") || "—"),
      el("td", { class: "created" }, when(task.created_at)),
      el("td", { class: "duration" }, duration(task.duration_seconds)),
      actionsCell(task));
  }

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "";
  }

  async function request(path, options) {
    const response = await fetch(path, { credentials: "same-origin", ...options });
    if (response.status === 401) {
      window.location.reload(); // the session ended: show the login form
      throw new Error("logged out");
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
    return data;
  }

  async function cancelTask(task, force) {
    try {
      const done = await request(`/api/v1/task/${task.uuid}/cancel`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": config.csrf },
        body: JSON.stringify({ force }),
      });
      say(`${task.task_name || task.name}: ${done.action}`, false);
    } catch (error) {
      say(`${task.task_name || task.name}: ${error.message}`, true);
    }
    refresh();
  }

  function schedule(active) {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, active ? FAST_MS : SLOW_MS);
  }

  async function refresh() {
    if (document.hidden || state.busy) return schedule(false);
    state.busy = true;
    let active = false;
    try {
      const params = new URLSearchParams({ limit: state.limit, offset: state.offset });
      if (state.status) params.set("status", state.status);
      const page = await request(`/api/v1/task/?${params}`, { headers: { Accept: "application/json" } });
      const rows = [];
      for (const task of page.result) {
        active = active || ACTIVE.has(task.status);
        rows.push(row(task));
        if (state.open.has(task.uuid)) rows.push(detailsRow(task));
      }
      if (!rows.length) rows.push(el("tr", {}, el("td", { colSpan: 8, class: "muted" }, "No tasks.")));
      body.replaceChildren(...rows);
      const last = Math.min(state.offset + page.result.length, page.count);
      document.getElementById("count").textContent =
        page.count ? `${state.offset + 1}–${last} of ${page.count}` : "0 tasks";
      document.getElementById("prev").disabled = state.offset === 0;
      document.getElementById("next").disabled = last >= page.count;
      document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      say(error.message, true);
    } finally {
      state.busy = false;
      schedule(active);
    }
  }

  document.getElementById("status-filter").addEventListener("change", (event) => {
    state.status = event.target.value;
    state.offset = 0;
    refresh();
  });
  document.getElementById("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit);
    refresh();
  });
  document.getElementById("next").addEventListener("click", () => {
    state.offset += state.limit;
    refresh();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  refresh();
})();
