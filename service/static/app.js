// fedbuild dashboard: projects, their builds and one build's details, kept live
// through the service's WebSocket events (polling every 2 s when the socket is down).
// Every piece of text from the API goes into the page through textContent or text
// nodes, never as HTML: build logs and project names are untrusted.
"use strict";

(function () {
  const TOKEN_KEY = "fedbuild.token";
  const PER_PAGE = 20;
  const POLL_MS = 2000;
  const LOG_LINES = 400;
  const REFRESH_DELAY_MS = 150;
  const RECONNECT_MAX_MS = 10000;

  const state = {
    token: null,
    projects: [],
    projectId: null,
    page: 1,
    pages: 1,
    buildId: null,
    build: null,
    trends: null,
    timelineFor: null,
    graphFor: null,
    socket: null,
    socketOpen: false,
    reconnectDelay: 1000,
    reconnectTimer: null,
    pollTimer: null,
    refreshTimer: null,
    pending: { projects: false, builds: false, build: false },
    stopped: true,
  };

  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers: text only --------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function badge(status, id) {
    const text = status ? String(status) : "unknown";
    const node = el("span", { class: "badge", text, id });
    node.dataset.status = text.toLowerCase();
    return node;
  }

  function setBadge(node, status) {
    const text = status ? String(status) : "unknown";
    node.textContent = text;
    node.dataset.status = text.toLowerCase();
  }

  let noticeTimer = null;
  function notice(message) {
    const node = $("notice");
    node.textContent = message;
    node.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { node.hidden = true; }, 6000);
  }

  // ---- formatting ------------------------------------------------------------------

  function parseTime(value) {
    if (!value) return null;
    if (typeof value === "number") return new Date(value * 1000);
    let text = String(value);
    // Timestamps without a zone are UTC (the service stores UTC).
    if (/^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(text)) text = text.replace(" ", "T") + "Z";
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function formatTime(value) {
    const date = parseTime(value);
    if (!date) return value ? String(value) : "–";
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || seconds === "") return "–";
    const s = Number(seconds);
    if (!Number.isFinite(s)) return String(seconds);
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const minutes = Math.floor(s / 60);
    const rest = Math.round(s - minutes * 60);
    return `${minutes} min ${String(rest).padStart(2, "0")} s`;
  }

  function buildDuration(build) {
    const started = parseTime(build.started_at);
    if (build.status === "running" && started) {
      return formatDuration(Math.max(0, (Date.now() - started.getTime()) / 1000)) + "…";
    }
    return formatDuration(build.duration);
  }

  function formatRate(rate) {
    if (rate === null || rate === undefined) return "–";
    const n = Number(rate);
    if (!Number.isFinite(n)) return String(rate);
    return `${Math.round(n)}%`;  // the service reports a percentage
  }

  function shortSha(sha) {
    return sha ? String(sha).slice(0, 10) : "–";
  }

  function progressText(build) {
    const p = build.progress;
    if (!p || p.total === undefined || p.total === null) return "";
    return `${p.done ?? 0}/${p.total}`;
  }

  function isActive(status) {
    return status === "pending" || status === "running";
  }

  // ---- the API -----------------------------------------------------------------------

  class AuthError extends Error {}

  async function request(path, options = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${state.token}` };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`api/${path}`, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(`the service refused the token (HTTP ${response.status})`);
    }
    return response;
  }

  async function api(path, options = {}) {
    const response = await request(path, options);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!response.ok) {
      const detail = data && typeof data === "object" && data.detail ? data.detail : text;
      throw new Error(`${options.method || "GET"} /api/${path}: HTTP ${response.status}: ` +
        (typeof detail === "string" ? detail : JSON.stringify(detail)));
    }
    return data;
  }

  function failed(error) {
    if (error instanceof AuthError) {
      askForToken(`The service refused this token: paste a valid one.`);
    } else {
      notice(String(error.message || error));
    }
  }

  // ---- token ------------------------------------------------------------------------

  function tokenFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const token = params.get("token");
    if (token !== null) {
      // Keep the token out of the address bar, history and bookmarks.
      history.replaceState(null, "", location.pathname + location.search);
    }
    return token;
  }

  function askForToken(message) {
    stop();
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("app").hidden = true;
    $("project-list").replaceChildren();
    $("build-list").replaceChildren();
    $("log").replaceChildren();
    $("build-detail").hidden = true;
    $("token-message").textContent = message;
    $("token-form-panel").hidden = false;
    $("token-input").value = "";
    $("token-input").focus();
  }

  function useToken(token) {
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-form-panel").hidden = true;
    start();
  }

  // ---- projects -----------------------------------------------------------------------

  async function loadProjects() {
    const projects = await api("projects");
    state.projects = Array.isArray(projects) ? projects : (projects && projects.items) || [];
    const stats = await Promise.all(state.projects.map(
      (p) => api(`projects/${encodeURIComponent(p.id)}/stats`).catch((e) => {
        if (e instanceof AuthError) throw e;
        return null;
      })));
    renderProjects(stats);
    $("app").hidden = false;
    if (state.projectId === null && state.projects.length) selectProject(state.projects[0].id);
  }

  function projectSource(project) {
    if (project.git_url) return project.branch ? `${project.git_url} (${project.branch})` : project.git_url;
    return project.path || "";
  }

  // The project's state is its latest build's status, and whether it takes builds at all.
  function projectBadges(project) {
    const last = project.last_build;
    const badges = [badge(last ? last.status : "never built")];
    badges[0].classList.add("project-status");
    if (project.status && project.status !== "active") badges.push(" ", badge(project.status));
    badges.push(" ");
    return badges;
  }

  function statsLine(stats) {
    if (!stats) return "no statistics";
    const total = stats.total_builds ?? stats.total ?? 0;
    return `${total} build${total === 1 ? "" : "s"} · ${formatRate(stats.success_rate)} success · ` +
      `avg ${formatDuration(stats.average_duration)}`;
  }

  function renderProjects(stats) {
    const list = $("project-list");
    const items = state.projects.map((project, i) => {
      const id = String(project.id);
      const item = el("li", {
        class: "project" + (String(state.projectId) === id ? " selected" : ""),
        dataset: { projectId: id },
        tabindex: "0",
        onclick: () => selectProject(project.id),
        onkeydown: (e) => { if (e.key === "Enter" && e.target === e.currentTarget) selectProject(project.id); },
      },
      el("span", { class: "project-name", text: project.name }),
      el("button", {
        type: "button", class: "build", text: "Build", dataset: { projectId: id },
        "aria-label": `Build ${project.name}`,
        onclick: (e) => { e.stopPropagation(); startBuild(project.id, e.currentTarget); },
      }),
      el("span", { class: "project-source", text: projectSource(project) }),
      el("span", { class: "project-stats" }, ...projectBadges(project), statsLine(stats[i])));
      return item;
    });
    list.replaceChildren(...items);
    $("projects-empty").hidden = state.projects.length > 0;
  }

  function selectProject(id) {
    if (String(state.projectId) !== String(id)) {
      state.projectId = id;
      state.page = 1;
      state.buildId = null;
      state.build = null;
      state.trends = null;
      $("project-trend").replaceChildren();
      $("project-trend").hidden = true;
      state.graphFor = null;
      $("graph-panel").hidden = true;
      $("project-graph").replaceChildren();
      $("build-detail").hidden = true;
    }
    for (const item of $("project-list").children) {
      item.classList.toggle("selected", item.dataset.projectId === String(id));
    }
    loadBuilds().catch(failed);
  }

  async function startBuild(projectId, button) {
    button.disabled = true;
    try {
      const build = await api(`projects/${encodeURIComponent(projectId)}/build`,
        { method: "POST", body: { trigger: "manual" } });
      state.projectId = null;  // forces the builds list of this project to page 1
      selectProject(projectId);
      if (build && build.id !== undefined) selectBuild(build.id);
      scheduleRefresh({ projects: true });
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  }

  // ---- builds list ----------------------------------------------------------------------

  async function loadBuilds() {
    if (state.projectId === null) return;
    const projectId = state.projectId;
    const data = await api(`projects/${encodeURIComponent(projectId)}/builds` +
      `?page=${state.page}&per_page=${PER_PAGE}`);
    if (String(projectId) !== String(state.projectId)) return;  // another project was chosen meanwhile
    const items = Array.isArray(data) ? data : (data && data.items) || [];
    const total = data && data.total !== undefined ? data.total : items.length;
    state.pages = Math.max(1, Math.ceil(total / PER_PAGE));
    renderBuilds(items, total);
    await loadTrends();
  }

  // ---- pictures (static/pictures.js draws them) ------------------------------------------

  async function loadTrends() {
    const projectId = state.projectId;
    const data = await api(`projects/${encodeURIComponent(projectId)}/trends`);
    if (String(projectId) !== String(state.projectId)) return;
    state.trends = data;
    const hasBuilds = data && Array.isArray(data.builds) && data.builds.length > 0;
    $("project-trend").hidden = !hasBuilds;
    $("project-trend").replaceChildren(...(hasBuilds ? [window.FedbuildPictures.buildTrend(data)] : []));
    if (state.build) renderBuild(state.build);
    if (hasBuilds) await loadGraph(projectId, data.builds[data.builds.length - 1].id);
  }

  // The task graph of the newest finished build: fetched again only when a newer one ends.
  async function loadGraph(projectId, newest) {
    const key = `${projectId}:${newest}`;
    if (state.graphFor === key) return;
    state.graphFor = key;
    let data;
    try {
      data = await api(`projects/${encodeURIComponent(projectId)}/graph`);
    } catch (error) {
      if (error instanceof AuthError) throw error;
      if (state.graphFor !== key) return;
      $("graph-panel").hidden = false;
      $("graph-note").textContent = "";
      $("project-graph").replaceChildren(el("p", { class: "empty",
        text: `No task graph: ${error.message || error}` }));
      return;
    }
    if (state.graphFor !== key) return;
    $("graph-panel").hidden = false;
    const picture = window.FedbuildPictures.taskGraph(data, (node, group) => showNode(data, node, group));
    $("project-graph").replaceChildren(picture);
    const path = Array.isArray(data.critical_path) && data.critical_path.length
      ? data.critical_path.join(" → ") : "none recorded yet";
    $("graph-note").textContent = `(build #${data.build}; critical path: ${path})`;
    $("graph-details").replaceChildren(el("p", { class: "hint",
      text: "Click a task to see its last status, duration and what its run recorded." }));
    filterGraph();
  }

  const DETAIL_NAMES = {
    duration: "Duration in this run", attempts: "Attempts", exit_code: "Exit code",
    started: "Started", ended: "Ended", cpu_time: "CPU time", peak_rss: "Peak memory",
    inputs_digest: "Cache key", output_digest: "Output digest", saved: "Saved by the cache",
    message: "Message", outputs: "Outputs", deps: "Needs",
  };

  function detailText(key, value) {
    if (Array.isArray(value)) return value.length ? value.join(", ") : null;
    if (value === null || value === undefined || value === "") return null;
    if (key === "duration" || key === "cpu_time" || key === "saved") {
      return window.FedbuildPictures.seconds(value);
    }
    if (key === "peak_rss") return `${(Number(value) / 1048576).toFixed(1)} MiB`;
    if (key === "started" || key === "ended") return formatTime(value);
    return String(value);
  }

  function showNode(data, node, group) {
    for (const other of $("project-graph").querySelectorAll("g.node")) {
      other.classList.toggle("selected", other === group);
    }
    const details = node.details && typeof node.details === "object" ? node.details : {};
    const neededBy = (Array.isArray(data.edges) ? data.edges : [])
      .filter((e) => e.from === node.name).map((e) => e.to);
    const rows = [
      ...metaRow("Last status", badge(node.status), ` in build #${data.build}`),
      ...metaRow("Recorded duration", node.duration === null || node.duration === undefined
        ? "none recorded" : `${window.FedbuildPictures.seconds(node.duration)} (build #${node.duration_build})`),
      ...metaRow("Critical path", node.critical ? "on it" : "no"),
    ];
    for (const [key, label] of Object.entries(DETAIL_NAMES)) {
      const text = detailText(key, details[key]);
      if (text !== null) rows.push(...metaRow(label, text));
    }
    if (neededBy.length) rows.push(...metaRow("Needed by", neededBy.join(", ")));
    $("graph-details").replaceChildren(el("h5", { text: node.name }),
      el("dl", { class: "meta", id: "graph-node-facts" }, ...rows));
  }

  function filterGraph() {
    const words = $("graph-filter").value.trim().toLowerCase();
    const nodes = Array.from($("project-graph").querySelectorAll("g.node"));
    let shown = 0;
    for (const node of nodes) {
      const hit = !words || (node.dataset.task || "").toLowerCase().includes(words);
      node.classList.toggle("dim", !hit);
      if (hit) shown += 1;
    }
    for (const edge of $("project-graph").querySelectorAll("g.edge")) {
      const hit = !words || [edge.dataset.from, edge.dataset.to]
        .some((name) => (name || "").toLowerCase().includes(words));
      edge.classList.toggle("dim", !hit);
    }
    $("graph-shown").textContent = `${shown} of ${nodes.length} tasks`;
  }

  function taskChart(name) {
    const series = state.trends && state.trends.tasks && state.trends.tasks[name];
    return Array.isArray(series) && series.length
      ? window.FedbuildPictures.taskChart(series, state.trends.colours) : null;
  }

  async function loadTimeline(build) {
    if (isActive(build.status) || state.timelineFor === build.id) return;
    state.timelineFor = build.id;
    let picture;
    try {
      picture = window.FedbuildPictures.timeline(
        await api(`builds/${encodeURIComponent(build.id)}/timeline`));
    } catch (error) {
      if (error instanceof AuthError) throw error;
      picture = el("p", { class: "empty", text: "No timeline: this build left no run files." });
    }
    if (String(build.id) === String(state.buildId)) $("build-timeline").replaceChildren(picture);
  }

  function renderBuilds(items, total) {
    const project = state.projects.find((p) => String(p.id) === String(state.projectId));
    $("builds-title").textContent = project ? `Builds of ${project.name}` : "Builds";
    $("build-table").hidden = items.length === 0;
    $("builds-empty").hidden = items.length > 0;
    $("builds-empty").textContent = "No builds yet: press Build.";
    const rows = items.map((build) => el("tr", {
      class: String(build.id) === String(state.buildId) ? "selected" : "",
      dataset: { buildId: String(build.id), status: build.status || "" },
      tabindex: "0",
      onclick: () => selectBuild(build.id),
      onkeydown: (e) => { if (e.key === "Enter") selectBuild(build.id); },
    },
    el("td", { class: "build-number", text: `#${build.id}` }),
    el("td", {}, badge(build.status)),
    el("td", { text: build.triggered_by || build.trigger || "–" }),
    el("td", {}, el("code", { text: shortSha(build.commit_sha), title: build.commit_sha || "" })),
    el("td", { text: formatTime(build.started_at || build.created_at) }),
    el("td", { text: buildDuration(build) }),
    el("td", { class: "build-progress", text: isActive(build.status) ? progressText(build) : "" })));
    $("build-list").replaceChildren(...rows);
    $("builds-pager").hidden = total <= PER_PAGE;
    $("builds-page").textContent = `page ${state.page} of ${state.pages}`;
    $("builds-prev").disabled = state.page <= 1;
    $("builds-next").disabled = state.page >= state.pages;
  }

  function changePage(delta) {
    const page = Math.min(state.pages, Math.max(1, state.page + delta));
    if (page === state.page) return;
    state.page = page;
    loadBuilds().catch(failed);
  }

  // ---- one build ---------------------------------------------------------------------------

  function selectBuild(id) {
    if (String(id) !== String(state.buildId)) {
      state.timelineFor = null;
      $("build-timeline").replaceChildren();
    }
    state.buildId = id;
    for (const row of $("build-list").children) {
      row.classList.toggle("selected", row.dataset.buildId === String(id));
    }
    loadBuild().catch(failed);
  }

  async function loadBuild() {
    if (state.buildId === null) return;
    const id = state.buildId;
    const build = await api(`builds/${encodeURIComponent(id)}`);
    if (String(id) !== String(state.buildId)) return;
    state.build = build;
    renderBuild(build);
    await loadTimeline(build);
  }

  function metaRow(term, ...values) {
    return [el("dt", { text: term }), el("dd", {}, ...values)];
  }

  function requested(tasks) {
    const names = Array.isArray(tasks) ? tasks.filter((t) => typeof t === "string") : [];
    return names.length ? names.join(" ") : "the repository's default tasks";
  }

  function renderBuild(build) {
    $("build-detail").hidden = false;
    $("build-detail").dataset.buildId = String(build.id);
    $("build-id").textContent = `#${build.id}`;
    setBadge($("build-status"), build.status);

    const progress = build.progress || {};
    const running = isActive(build.status) && progress.total;
    $("build-progress-wrap").hidden = !running;
    if (running) {
      $("build-progress").max = Math.max(1, Number(progress.total));
      $("build-progress").value = Number(progress.done || 0);
      $("build-progress-text").textContent = `${progress.done || 0}/${progress.total} tasks`;
    }

    $("build-meta").replaceChildren(
      ...metaRow("Trigger", build.triggered_by || build.trigger || "–"),
      ...metaRow("Mode", build.mode || "–"),
      ...metaRow("Tasks asked", requested(build.tasks)),
      ...metaRow("Branch", build.branch || "–"),
      ...metaRow("Commit", el("code", { text: build.commit_sha || "–" }),
        build.commit_message ? ` ${String(build.commit_message).split("\n")[0]}` : null),
      ...metaRow("Created", formatTime(build.created_at)),
      ...metaRow("Started", formatTime(build.started_at)),
      ...metaRow("Completed", formatTime(build.completed_at)),
      ...metaRow("Duration", el("span", { id: "build-duration", text: buildDuration(build) })));

    $("build-error").hidden = !build.error;
    $("build-error").textContent = build.error || "";

    // task_results: what each doit task did (build.tasks lists the task names asked for).
    const tasks = Array.isArray(build.task_results) ? build.task_results
      : (Array.isArray(build.tasks) ? build.tasks.filter((t) => t && typeof t === "object") : []);
    $("build-tasks").replaceChildren(...(tasks.length ? tasks.map((t) => el("tr",
      { dataset: { task: t.task || t.name || "" } },
      el("td", {}, el("code", { text: t.task || t.name || "?" })),
      el("td", {}, badge(t.status)),
      el("td", { text: formatDuration(t.duration) }),
      el("td", { class: "task-trend" }, taskChart(t.task || t.name || "")),
      el("td", { text: t.message || "" })))
      : [el("tr", {}, el("td", { colspan: "5", class: "empty", text: "No tasks recorded yet." }))]));

    $("build-tests").textContent = testsLine(build.test_results);
    $("build-artifacts").textContent = build.artifacts_path || "–";
    renderLog(build.build_output);

    renderFixes(build);

    $("build-cancel").hidden = !isActive(build.status);
    $("build-retry").hidden = !(build.status === "failed" || build.status === "cancelled");
  }

  // The fixes the build proved (doit fix=auto): the line doit printed and the diff, both
  // as text, and a button committing it on a new branch, then building that branch.
  function renderFixes(build) {
    const fixes = Array.isArray(build.fixes) ? build.fixes.filter((f) => f && typeof f === "object") : [];
    $("build-fixes").hidden = fixes.length === 0;
    $("fix-list").replaceChildren(...fixes.map((fix) => {
      const task = String(fix.task || "");
      return el("div", { class: "fix", dataset: { task } },
        el("p", { class: "fix-line", text: String(fix.line || "") }),
        el("pre", { class: "diff", text: String(fix.diff || "") }),
        el("button", { type: "button", class: "apply-fix", text: "Apply as a branch",
          onclick: (event) => applyFix(build.id, task, event.currentTarget) }));
    }));
  }

  async function applyFix(buildId, task, button) {
    button.disabled = true;
    try {
      const result = await api(`builds/${encodeURIComponent(buildId)}/fix-branch`,
        { method: "POST", body: { task } });
      if (result && result.id !== undefined) state.buildId = result.id;
      notice(`The fix for ${task} is committed on branch ${result.fix_branch}: building it.`);
      scheduleRefresh({ projects: true, builds: true, build: true });
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  }

  function testsLine(results) {
    if (results === null || results === undefined || results === "") return "No test results.";
    if (typeof results === "string") {
      try { results = JSON.parse(results); } catch (_) { return results; }
    }
    if (Array.isArray(results)) {
      const counts = {};
      for (const r of results) {
        const status = (r && (r.status || r.outcome)) || "unknown";
        counts[status] = (counts[status] || 0) + 1;
      }
      results = counts;
    }
    if (typeof results !== "object") return String(results);
    if (typeof results.tests === "number") {
      const n = (key) => Number(results[key] || 0);
      return `${n("tests")} tests: ${n("passed")} passed, ${n("failures")} failed, ` +
        `${n("errors")} errors, ${n("skipped")} skipped`;
    }
    const parts = Object.entries(results)
      .filter(([, v]) => typeof v === "number" || typeof v === "string")
      .map(([k, v]) => `${k}: ${v}`);
    return parts.length ? parts.join(" · ") : "No test results.";
  }

  function renderLog(output) {
    const log = $("log");
    const text = output === null || output === undefined ? "" : String(output);
    const lines = text.split("\n");
    const tail = lines.length > LOG_LINES ? lines.slice(-LOG_LINES) : lines;
    $("log-note").textContent = lines.length > LOG_LINES ? `(last ${LOG_LINES} of ${lines.length} lines)` : "";
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    // One text node: whatever the log contains stays text.
    log.textContent = tail.join("\n") || "(no output yet)";
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  // The whole log needs the token too, so it is fetched here and saved from memory.
  async function downloadLog() {
    if (state.buildId === null) return;
    const id = state.buildId;
    try {
      const response = await request(`builds/${encodeURIComponent(id)}/log`);
      if (!response.ok) throw new Error(`GET /api/builds/${id}/log: HTTP ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: `build-${id}.log` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      failed(error);
    }
  }

  async function buildAction(action) {
    if (state.buildId === null) return;
    const button = $(action === "cancel" ? "build-cancel" : "build-retry");
    button.disabled = true;
    try {
      const result = await api(`builds/${encodeURIComponent(state.buildId)}/${action}`, { method: "POST" });
      // Retry answers with the new build: show it.
      if (action === "retry" && result && result.id !== undefined) state.buildId = result.id;
      scheduleRefresh({ projects: true, builds: true, build: true });
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  }

  // ---- live updates ---------------------------------------------------------------------------

  // Coalesces the refreshes that a burst of events asks for into one round of requests.
  function scheduleRefresh(what) {
    for (const key of Object.keys(what)) if (what[key]) state.pending[key] = true;
    if (state.refreshTimer !== null) return;
    state.refreshTimer = setTimeout(async () => {
      state.refreshTimer = null;
      const pending = state.pending;
      state.pending = { projects: false, builds: false, build: false };
      try {
        if (pending.projects) await loadProjects();
        if (pending.builds) await loadBuilds();
        if (pending.build) await loadBuild();
      } catch (error) {
        failed(error);
      }
    }, REFRESH_DELAY_MS);
  }

  function onEvent(event) {
    if (!event || typeof event !== "object") return;
    const type = String(event.type || "");
    // Progress events only move the build and its row; the others change the projects too.
    const changesProject = type !== "workflow.progress";
    const ours = event.job_id !== undefined && String(event.job_id) === String(state.buildId);
    const listed = event.project_id === undefined || String(event.project_id) === String(state.projectId);
    scheduleRefresh({ projects: changesProject, builds: listed, build: ours });
  }

  // A browser cannot send the token with a WebSocket: it asks for a single-use ticket
  // (valid for a minute) with the token, and only the ticket goes into the URL.
  async function eventsUrl() {
    const answer = await api("events/ticket", { method: "POST" });
    const url = new URL("api/events", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.hash = "";
    url.search = `?ticket=${encodeURIComponent(answer.ticket)}`;
    return url.toString();
  }

  function setConnection(mode) {
    const node = $("connection");
    node.dataset.state = mode;
    node.textContent = { live: "live", polling: "polling every 2 s", offline: "offline" }[mode];
  }

  async function connect() {
    if (state.stopped) return;
    let socket;
    try {
      socket = new WebSocket(await eventsUrl());
    } catch (error) {
      if (error instanceof AuthError) { stop(); failed(error); return; }
      if (state.stopped) return;
      startPolling();
      state.reconnectTimer = setTimeout(connect, state.reconnectDelay);
      state.reconnectDelay = Math.min(RECONNECT_MAX_MS, state.reconnectDelay * 2);
      return;
    }
    if (state.stopped) return;
    state.socket = socket;
    socket.addEventListener("open", () => {
      state.socketOpen = true;
      state.reconnectDelay = 1000;
      stopPolling();
      setConnection("live");
      // Catch up with whatever happened while the socket was down.
      scheduleRefresh({ projects: true, builds: true, build: true });
    });
    socket.addEventListener("message", (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (_) { return; }
      onEvent(event);
    });
    socket.addEventListener("close", () => {
      if (state.socket !== socket) return;
      state.socket = null;
      state.socketOpen = false;
      if (state.stopped) return;
      startPolling();
      state.reconnectTimer = setTimeout(connect, state.reconnectDelay);
      state.reconnectDelay = Math.min(RECONNECT_MAX_MS, state.reconnectDelay * 2);
    });
  }

  function startPolling() {
    if (state.pollTimer !== null || state.stopped) return;
    setConnection("polling");
    state.pollTimer = setInterval(
      () => scheduleRefresh({ projects: true, builds: true, build: true }), POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  // A running build's elapsed time ticks even when no event arrives.
  setInterval(() => {
    const node = $("build-duration");
    if (node && state.build && state.build.status === "running") node.textContent = buildDuration(state.build);
  }, 1000);

  // ---- start and stop ---------------------------------------------------------------------------

  function start() {
    state.stopped = false;
    loadProjects().then(connect, failed);
  }

  function stop() {
    state.stopped = true;
    stopPolling();
    clearTimeout(state.reconnectTimer);
    if (state.socket) {
      const socket = state.socket;
      state.socket = null;
      socket.close();
    }
    setConnection("offline");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const token = $("token-input").value.trim();
      if (token) useToken(token);
    });
    $("builds-prev").addEventListener("click", () => changePage(-1));
    $("builds-next").addEventListener("click", () => changePage(1));
    $("build-cancel").addEventListener("click", () => buildAction("cancel"));
    $("build-retry").addEventListener("click", () => buildAction("retry"));
    $("log-download").addEventListener("click", downloadLog);
    $("graph-filter").addEventListener("input", filterGraph);
    window.addEventListener("hashchange", () => {
      const token = tokenFromFragment();
      if (token) { stop(); useToken(token); }
    });

    const token = tokenFromFragment() || sessionStorage.getItem(TOKEN_KEY);
    if (token) useToken(token);
    else askForToken("No token: paste your API token to see the builds.");
  });
})();
