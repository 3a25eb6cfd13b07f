// V1tr0 console: sign in, pick a project, chat (SSE), search, documents, meetings, insights; one event
// feed (SSE) for what changes in every project, and the recording of a cited moment of a meeting.
// Plain JS, no dependencies, no inline handlers (the page's CSP allows only this origin's scripts).
"use strict";

const TEXT = {
  es: {
    signIn: "Entrar", register: "Crear cuenta", needAccount: "Crear una cuenta", haveAccount: "Ya tengo cuenta",
    email: "Correo", password: "Contraseña", fullName: "Nombre", logout: "Salir", project: "Proyecto",
    newProject: "Nuevo proyecto", create: "Crear", chat: "Chat", search: "Buscar", documents: "Documentos",
    meetings: "Reuniones", insights: "Salud", askSomething: "Pregunta algo sobre el proyecto", send: "Enviar",
    stop: "Detener", searchPlaceholder: "Buscar en todos tus proyectos", onlyThisProject: "Solo este proyecto",
    title: "Título", content: "Contenido", addDocument: "Añadir documento", newMeeting: "Nueva reunión",
    uploadLabel: "Audio o transcripción (VTT, SRT, JSON)", upload: "Subir", close: "Cerrar",
    docFileLabel: "Archivo (PDF, DOCX, PPTX, XLSX, CSV, HTML, MD, TXT)",
    sources: "Fuentes", noResults: "Sin resultados.", indexed: "fragmentos indexados", pending: "pendientes",
    failed: "con error", noProjects: "Crea tu primer proyecto.", stopped: "Detenido.", thinking: "Pensando…",
    summary: "Resumen", keyPoints: "Puntos clave", decisions: "Decisiones", commitments: "Compromisos",
    nextSteps: "Próximos pasos", risks: "Riesgos", transcript: "Transcripción", health: "Salud del proyecto",
    budget: "Presupuesto", hours: "Horas", progress: "Progreso", time: "Tiempo", open: "Abrir",
    on_track: "En curso", at_risk: "En riesgo", off_track: "Desviado", unknown: "Sin datos", meeting: "Reunión", page: "p.", slide: "diapositiva",
    error: "Error", reconnecting: "Reconectando…", retrying: "reintentando",
    indexIncomplete: "Índice incompleto: {n} cambios aún sin indexar; los resultados pueden no incluirlos.",
    activity: "Actividad", play: "Escuchar", noRecording: "Esta reunión no tiene grabación.",
    events: {
      "index.indexed": "indexado", "index.retrying": "indexación reintentando", "index.failed": "indexación fallida",
      "transcription.queued": "transcripción en cola", "transcription.transcribing": "transcribiendo",
      "transcription.summarising": "resumiendo", "transcription.indexed": "transcripción indexada",
      "transcription.failed": "transcripción fallida", "summary.ready": "resumen listo",
      "commitment.created": "compromiso nuevo", "commitment.closed": "compromiso cerrado",
      "commitment.reopened": "compromiso reabierto", "commitment.due_soon": "compromiso vence pronto",
      "commitment.overdue": "compromiso vencido", "insights.refreshed": "salud actualizada",
      "document.converted": "documento convertido",
    },
  },
  en: {
    signIn: "Sign in", register: "Create account", needAccount: "Create an account", haveAccount: "I have an account",
    email: "Email", password: "Password", fullName: "Name", logout: "Sign out", project: "Project",
    newProject: "New project", create: "Create", chat: "Chat", search: "Search", documents: "Documents",
    meetings: "Meetings", insights: "Health", askSomething: "Ask something about the project", send: "Send",
    stop: "Stop", searchPlaceholder: "Search all your projects", onlyThisProject: "Only this project",
    title: "Title", content: "Content", addDocument: "Add document", newMeeting: "New meeting",
    uploadLabel: "Audio or transcript (VTT, SRT, JSON)", upload: "Upload", close: "Close",
    docFileLabel: "File (PDF, DOCX, PPTX, XLSX, CSV, HTML, MD, TXT)",
    sources: "Sources", noResults: "No results.", indexed: "chunks indexed", pending: "pending",
    failed: "failed", noProjects: "Create your first project.", stopped: "Stopped.", thinking: "Thinking…",
    summary: "Summary", keyPoints: "Key points", decisions: "Decisions", commitments: "Commitments",
    nextSteps: "Next steps", risks: "Risks", transcript: "Transcript", health: "Project health",
    budget: "Budget", hours: "Hours", progress: "Progress", time: "Time", open: "Open",
    on_track: "On track", at_risk: "At risk", off_track: "Off track", unknown: "No data", meeting: "Meeting", page: "p.", slide: "slide",
    error: "Error", reconnecting: "Reconnecting…", retrying: "retrying",
    indexIncomplete: "Index incomplete: {n} changes not indexed yet; results may miss them.",
    activity: "Activity", play: "Play", noRecording: "This meeting has no recording.",
    events: {
      "index.indexed": "indexed", "index.retrying": "indexing retrying", "index.failed": "indexing failed",
      "transcription.queued": "transcription queued", "transcription.transcribing": "transcribing",
      "transcription.summarising": "summarising", "transcription.indexed": "transcript indexed",
      "transcription.failed": "transcription failed", "summary.ready": "summary ready",
      "commitment.created": "new commitment", "commitment.closed": "commitment closed",
      "commitment.reopened": "commitment reopened", "commitment.due_soon": "commitment due soon",
      "commitment.overdue": "commitment overdue", "insights.refreshed": "health refreshed",
      "document.converted": "document converted",
    },
  },
};

const state = { lang: "es", access: null, refresh: null, user: null, project: null, stream: null, messageId: null,
  feed: null, lastEventId: null, feedRetry: null };
const $ = (id) => document.getElementById(id);
const t = (key) => (TEXT[state.lang] && TEXT[state.lang][key]) || TEXT.es[key] || key;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "html") node.innerHTML = value; // only for server-escaped snippets
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function mmss(seconds) {
  const total = Math.floor(Number(seconds) || 0);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

function translate() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((node) => {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  });
}

// --- HTTP ---------------------------------------------------------------------------------------

async function api(path, options = {}, retry = true) {
  const headers = Object.assign({}, options.headers || {});
  if (state.access) headers.Authorization = `Bearer ${state.access}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(`/api/v1${path}`, { method: options.method || "GET", headers, body: options.body });
  if (response.status === 401 && retry && state.refresh && await refreshTokens()) return api(path, options, false);
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((body.error && body.error.message) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

async function refreshTokens() {
  const response = await fetch("/api/v1/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: state.refresh }),
  });
  if (!response.ok) { signOut(); return false; }
  saveTokens(await response.json());
  return true;
}

function saveTokens(tokens) {
  state.access = tokens.access_token;
  state.refresh = tokens.refresh_token;
  sessionStorage.setItem("v1tr0.tokens", JSON.stringify({ access: state.access, refresh: state.refresh }));
}

function signOut() {
  closeFeed();
  state.access = state.refresh = state.user = state.lastEventId = null;
  sessionStorage.removeItem("v1tr0.tokens");
  $("main-view").hidden = true; $("who").hidden = true; $("auth-view").hidden = false;
}

// --- auth ---------------------------------------------------------------------------------------

let registering = false;

function setAuthMode(register) {
  registering = register;
  $("auth-name-row").hidden = !register;
  $("auth-title").textContent = t(register ? "register" : "signIn");
  $("auth-submit").textContent = t(register ? "register" : "signIn");
  $("auth-toggle").textContent = t(register ? "haveAccount" : "needAccount");
  $("auth-password").autocomplete = register ? "new-password" : "current-password";
}

async function onAuthSubmit(event) {
  event.preventDefault();
  $("auth-error").textContent = "";
  const email = $("auth-email").value.trim(), password = $("auth-password").value;
  try {
    if (registering) await api("/auth/register", { method: "POST", json: { email, password, full_name: $("auth-name").value } });
    saveTokens(await api("/auth/login", { method: "POST", json: { email, password } }));
    await enter();
  } catch (error) {
    $("auth-error").textContent = error.message;
  }
}

async function enter() {
  state.user = await api("/auth/me");
  $("who-name").textContent = state.user.full_name || state.user.email;
  $("who").hidden = false; $("auth-view").hidden = true; $("main-view").hidden = false;
  await loadProjects();
  openFeed();
}

// --- projects -----------------------------------------------------------------------------------

async function loadProjects(selectId) {
  const page = await api("/projects?limit=100&sort=title");
  const select = $("project-select");
  select.replaceChildren(...page.items.map((p) => el("option", { value: p.id, text: p.title })));
  if (!page.items.length) select.append(el("option", { value: "", text: t("noProjects") }));
  if (selectId) select.value = selectId;
  state.project = select.value || null;
  await showProject();
}

async function onProjectCreate(event) {
  event.preventDefault();
  const project = await api("/projects", { method: "POST", json: { title: $("project-title").value } });
  $("project-title").value = "";
  await loadProjects(project.id);
}

async function showProject() {
  $("messages").replaceChildren();
  if (!state.project) return;
  loadSuggestions(); loadDocuments(); loadMeetings();
  if (currentTab() === "insights") loadInsights();
}

function currentTab() {
  const selected = document.querySelector('[role=tab][aria-selected=true]');
  return selected ? selected.id.replace("tab-", "") : "chat";
}

function selectTab(name) {
  document.querySelectorAll("[role=tab]").forEach((tab) => {
    const active = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(active));
    tab.tabIndex = active ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !active;
  });
  if (name === "insights") loadInsights();
  if (name === "docs") loadDocuments();
}

function onTabKey(event) {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const index = tabs.indexOf(event.target);
  if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
    const next = tabs[(index + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus(); selectTab(next.id.replace("tab-", ""));
  }
}

// --- chat ---------------------------------------------------------------------------------------

async function loadSuggestions() {
  const list = $("suggestions");
  list.replaceChildren();
  try {
    const body = await api(`/ai/suggestions/${state.project}`);
    for (const item of body.suggestions) {
      list.append(el("li", {}, el("button", { type: "button", text: item.question,
        onclick: () => { $("chat-input").value = item.question; $("chat-input").focus(); } })));
    }
  } catch (_) { /* suggestions are optional */ }
}

// Where in a document a hit is: "p. 4–5" (PDF), "slide 3", or the heading path.
function documentPlace(c) {
  if (c.page != null) return ` · ${t("page")} ${c.page}${c.page_end != null ? `–${c.page_end}` : ""}`;
  if (c.slide != null) return ` · ${t("slide")} ${c.slide}`;
  return c.section ? ` · ${c.section}` : "";
}

function citationLabel(c) {
  const where = c.start != null ? ` · ${t("meeting")} ${mmss(c.start)}` : documentPlace(c);
  return `[${c.n}] ${c.title || c.source_type}${where}`;
}

function renderCitations(container, citations) {
  container.replaceChildren();
  if (!citations.length) return;
  const list = el("ol", { class: "citations", "aria-label": t("sources") });
  for (const c of citations) {
    list.append(el("li", { value: String(c.n) }, el("button", { type: "button", class: "link citation",
      text: citationLabel(c), onclick: () => openChunk(c) }), playButton(c, citationLabel(c))));
  }
  container.append(list);
}

// A transcript passage (a citation, a search hit) plays the meeting's recording from its start.
function playButton(hit, label) {
  if (!hit.meeting_id || hit.start == null) return null;
  return el("button", { type: "button", class: "link play", "aria-label": `${t("play")} ${mmss(hit.start)}`,
    text: `▶ ${mmss(hit.start)}`, onclick: () => playRecording(hit.meeting_id, hit.start, label) });
}

async function openChunk(citation) {
  const chunk = await api(`/ai/chunks/${citation.chunk_id}`);
  $("chunk-title").textContent = citationLabel(citation);
  $("chunk-body").textContent = chunk.content;
  $("chunk-dialog").showModal();
}

async function onChatSubmit(event) {
  event.preventDefault();
  const message = $("chat-input").value.trim();
  if (!message || !state.project) return;
  $("chat-input").value = "";
  $("messages").append(el("li", { class: "msg user", text: message }));
  const text = el("div", { class: "answer" });
  const status = el("div", { class: "status", text: t("thinking") });
  const citations = el("div");
  const bubble = el("li", { class: "msg assistant" }, text, citations, status);
  $("messages").append(bubble);
  let ticket;
  try {
    ticket = await api(`/ai/chat/${state.project}/streams`, { method: "POST",
      json: { message, conversation_id: state.conversation || null } });
  } catch (error) {
    status.textContent = `${t("error")}: ${error.message}`;
    return;
  }
  state.conversation = ticket.conversation_id;
  state.messageId = ticket.message_id;
  $("chat-stop").disabled = false; $("chat-send").disabled = true;
  // EventSource reconnects by itself after a dropped connection, sending Last-Event-ID: the server
  // resumes the same answer from its buffer instead of generating a new one.
  const stream = new EventSource(ticket.stream_url);
  state.stream = stream;
  const finish = (note) => {
    stream.close(); state.stream = null;
    $("chat-stop").disabled = true; $("chat-send").disabled = false;
    status.textContent = note || "";
  };
  stream.addEventListener("start", (e) => {
    const pending = JSON.parse(e.data).index_pending || 0;
    status.textContent = pending ? indexIncomplete(pending) : "";
  });
  stream.addEventListener("delta", (e) => { text.textContent += JSON.parse(e.data).text; });
  stream.addEventListener("citations", (e) => renderCitations(citations, JSON.parse(e.data).citations));
  stream.addEventListener("done", (e) => {
    const done = JSON.parse(e.data);
    finish(`${done.provider} · ${done.model} · ${Math.round((done.timings || {}).total_ms || 0)} ms`);
  });
  stream.addEventListener("error", (e) => {
    if (e.data) {
      const error = JSON.parse(e.data);
      finish(error.code === "stopped" ? t("stopped") : `${t("error")}: ${error.message}`);
    } else if (stream.readyState === EventSource.CONNECTING) {
      status.textContent = t("reconnecting");
    } else {
      finish();
    }
  });
}

function indexIncomplete(n) {
  return t("indexIncomplete").replace("{n}", String(n));
}

async function onChatStop() {
  if (!state.messageId) return;
  await api(`/ai/chat/${state.project}/messages/${state.messageId}/stop`, { method: "POST" });
}

// --- search -------------------------------------------------------------------------------------

async function onSearch(event) {
  event.preventDefault();
  const q = encodeURIComponent($("search-input").value.trim());
  const path = $("search-scope").checked && state.project ? `/ai/search/${state.project}?q=${q}` : `/search?q=${q}`;
  const list = $("search-results");
  list.replaceChildren();
  const body = await api(path);
  if (body.index_pending) list.append(el("li", { class: "notice", text: indexIncomplete(body.index_pending) }));
  if (!body.results.length) list.append(el("li", { text: t("noResults") }));
  const projects = Object.fromEntries([...$("project-select").options].map((o) => [o.value, o.textContent]));
  for (const r of body.results) {
    const when = r.start != null ? ` · ${t("meeting")} ${mmss(r.start)}–${mmss(r.end)}` : documentPlace(r);
    list.append(el("li", { class: "result" },
      el("div", { class: "meta", text: `${projects[r.project_id] || ""} · ${r.source_type} · ${r.title}${when}` },
        playButton(r, r.title)),
      el("div", { class: "snippet", html: r.snippet })));
  }
}

// --- documents ----------------------------------------------------------------------------------

async function loadDocuments() {
  if (!state.project) return;
  const page = await api(`/projects/${state.project}/documents?limit=50`);
  $("doc-list").replaceChildren(...page.items.map((d) => el("li", { text: `${d.title} (${d.size})` })));
  const status = await api(`/projects/${state.project}/index-status`);
  $("index-status").textContent =
    `${status.indexed_chunks} ${t("indexed")} · ${status.pending} ${t("pending")} · ` +
    `${status.retrying} ${t("retrying")} · ${status.failed} ${t("failed")}`;
  $("index-status").dataset.pending = String(status.pending);
  $("index-status").dataset.indexed = String(status.indexed_chunks);
}

async function onDocumentCreate(event) {
  event.preventDefault();
  await api(`/projects/${state.project}/documents`, { method: "POST",
    json: { title: $("doc-title").value, content: $("doc-content").value } });
  $("doc-title").value = ""; $("doc-content").value = "";
  await loadDocuments(); // the feed's index.* events refresh it as the worker indexes
}

async function onDocumentUpload(event) {
  event.preventDefault();
  const file = $("doc-file").files[0];
  if (!file || !state.project) return;
  const form = new FormData();
  form.append("file", file);
  $("doc-upload-status").textContent = "";
  try {
    const doc = await api(`/projects/${state.project}/documents/upload`, { method: "POST", body: form });
    $("doc-file").value = "";
    await loadDocuments();  // first, so that the index status counts the new document as pending
    const pages = doc.page_count != null ? ` · ${doc.page_count}` : "";
    $("doc-upload-status").textContent = `${doc.title} (${doc.source_format}${pages})`;
  } catch (error) {
    $("doc-upload-status").textContent = `${t("error")}: ${error.message}`;
  }
}

// --- meetings -----------------------------------------------------------------------------------

async function loadMeetings() {
  const page = await api(`/meetings?project_id=${state.project}&limit=50`);
  $("meeting-list").replaceChildren(...page.items.map((m) => el("li", {},
    el("button", { type: "button", class: "link", text: `${m.title} · ${m.status}`, onclick: () => openMeeting(m) }))));
  $("meeting-detail").hidden = true;
}

async function onMeetingCreate(event) {
  event.preventDefault();
  const meeting = await api("/meetings", { method: "POST",
    json: { project_id: state.project, title: $("meeting-title").value } });
  $("meeting-title").value = "";
  await loadMeetings();
  openMeeting(meeting);
}

async function openMeeting(meeting) {
  state.meeting = meeting;
  $("meeting-detail").hidden = false;
  $("meeting-name").textContent = meeting.title;
  $("meeting-events").textContent = "";
  $("upload-progress").hidden = true;
  $("transcription").replaceChildren();
  await loadTranscription(meeting.id); // what is there now; the feed brings what happens next
}

// A transcription stage of the open meeting, from the feed.
function showMeetingEvent(kind, data) {
  const percent = data.percent != null ? ` ${data.percent}%` : "";
  $("meeting-events").textContent = `${eventLabel(kind)}${percent}${data.reason ? `: ${data.reason}` : ""}`;
  $("meeting-events").dataset.stage = kind;
  if (data.percent != null) { $("upload-progress").hidden = false; $("upload-progress").value = data.percent; }
  if (kind === "summary.ready" || kind === "transcription.indexed") loadTranscription(data.meeting_id);
}

async function onUpload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file || !state.meeting) return;
  const form = new FormData();
  form.append("file", file);
  try {
    const accepted = await api(`/transcriptions/upload/${state.meeting.id}`, { method: "POST", body: form });
    $("meeting-events").textContent = `${accepted.source_kind}: ${accepted.stage}`;
  } catch (error) {
    $("meeting-events").textContent = `${t("error")}: ${error.message}`;
  }
}

function itemList(title, items, render) {
  if (!items || !items.length) return null;
  return el("section", {}, el("h4", { text: title }),
    el("ul", {}, ...items.map((item) => el("li", {}, ...render(item)))));
}

function segmentLinks(ids) {
  return (ids || []).map((id) => el("a", { href: `#seg-${id}`, text: ` #${id}` }));
}

async function loadTranscription(meetingId) {
  const page = await api(`/transcriptions?meeting_id=${meetingId}&limit=1`);
  if (!page.items.length) return;
  const tr = await api(`/transcriptions/${page.items[0].id}`);
  if (!state.meeting || state.meeting.id !== meetingId) return;
  if (!$("meeting-events").textContent) $("meeting-events").textContent = `${tr.processing_status} · ${tr.stage}`;
  const text = (item) => (typeof item === "string" ? item : item.text || item.task || "");
  const container = $("transcription");
  container.replaceChildren(
    el("h4", { text: t("summary") }), el("p", { text: tr.summary || "" }),
    itemList(t("keyPoints"), tr.key_points, (i) => [text(i), ...segmentLinks(i.segment_ids)]),
    itemList(t("decisions"), tr.decisions, (i) => [text(i), ...segmentLinks(i.segment_ids)]),
    itemList(t("commitments"), tr.commitments,
      (i) => [`${i.owner ? `${i.owner}: ` : ""}${i.task}${i.due ? ` (${i.due})` : ""}`, ...segmentLinks(i.segment_ids)]),
    itemList(t("nextSteps"), tr.next_steps, (i) => [text(i), ...segmentLinks(i.segment_ids)]),
    el("h4", { text: t("transcript") }),
    el("div", {}, ...tr.segments.map((s, i) => el("span", { id: `seg-${i}`, class: "segment",
      text: `[${mmss(s.start)}] ${s.speaker ? `${s.speaker}: ` : ""}${s.text}` }))));
}

// --- insights -----------------------------------------------------------------------------------

function barChart(rows) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const height = rows.length * 34 + 10;
  svg.setAttribute("viewBox", `0 0 520 ${height}`);
  svg.setAttribute("role", "img");
  rows.forEach(([label, value], i) => {
    const y = 10 + i * 34;
    const width = Math.max(0, Math.min(value, 1.5)) / 1.5 * 360;
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", "0"); text.setAttribute("y", String(y + 16)); text.textContent = label;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", "120"); bar.setAttribute("y", String(y)); bar.setAttribute("height", "22");
    bar.setAttribute("width", String(width)); bar.setAttribute("fill", value > 1 ? "#c92a2a" : "#3b5bdb");
    const pct = document.createElementNS(ns, "text");
    pct.setAttribute("x", String(126 + width)); pct.setAttribute("y", String(y + 16));
    pct.textContent = `${Math.round(value * 100)}%`;
    svg.append(text, bar, pct);
  });
  const full = document.createElementNS(ns, "line");
  full.setAttribute("x1", "360"); full.setAttribute("x2", "360"); full.setAttribute("y1", "0");
  full.setAttribute("y2", String(height)); full.setAttribute("stroke", "#868e96"); full.setAttribute("stroke-dasharray", "4");
  svg.append(full);
  return svg;
}

async function loadInsights() {
  if (!state.project) return;
  const body = await api(`/ai/insights/${state.project}`);
  const health = body.health, stats = health.stats;
  $("health").replaceChildren(el("h3", {}, `${t("health")}: `,
    el("span", { class: `health-${health.status}`, text: t(health.status) })),
    el("ul", {}, ...health.reasons.map((r) => el("li", { text: r }))));
  const rows = [[t("progress"), stats.progress / 100]];
  if (stats.time_elapsed != null) rows.push([t("time"), stats.time_elapsed]);
  if (stats.budget_burn != null) rows.push([t("budget"), stats.budget_burn]);
  if (stats.hours_burn != null) rows.push([t("hours"), stats.hours_burn]);
  $("burn-chart").replaceChildren(barChart(rows));
  const cite = (item) => (item.citations || []).map((c) =>
    el("button", { type: "button", class: "link", text: ` [${c.n}]`, onclick: () => openChunk(c) }));
  $("insight-lists").replaceChildren(
    itemList(t("commitments"), body.commitments, (i) => [i.text, ...cite(i)]),
    itemList(t("decisions"), body.decisions, (i) => [i.text, ...cite(i)]),
    itemList(t("risks"), body.risks, (i) => [i.text, ...cite(i)]),
    itemList(t("nextSteps"), body.next_steps, (i) => [i.text, ...cite(i)]));
}

// --- the event feed -----------------------------------------------------------------------------
// One EventSource for every project the user sees. It reconnects by itself (sending Last-Event-ID)
// while its token is valid; after that, a new token and ?last_event_id= resume where it stopped.

const FEED_KINDS = Object.keys(TEXT.es.events);

async function openFeed() {
  closeFeed();
  if (!state.access) return;
  let link;
  try {
    link = await api("/events/token", { method: "POST" });
  } catch (_) {
    reopenFeedLater();
    return;
  }
  const resume = state.lastEventId ? `&last_event_id=${encodeURIComponent(state.lastEventId)}` : "";
  const source = new EventSource(link.url + resume);
  state.feed = source;
  source.addEventListener("ready", (e) => {
    state.lastEventId = e.lastEventId || state.lastEventId;
    $("activity").dataset.ready = "true";
    if (JSON.parse(e.data).missed) showProject(); // some events are gone: read the current state
  });
  for (const kind of FEED_KINDS) source.addEventListener(kind, onFeedEvent);
  source.addEventListener("error", (e) => {
    // An `error` event with data: the server ended the feed (access changed). Without: the connection
    // dropped; EventSource retries by itself unless it gave up (an expired token).
    if (e.data || source.readyState === EventSource.CLOSED) { closeFeed(); reopenFeedLater(); }
  });
}

function closeFeed() {
  clearTimeout(state.feedRetry);
  if (state.feed) state.feed.close();
  state.feed = null;
}

function reopenFeedLater() {
  clearTimeout(state.feedRetry);
  if (state.access) state.feedRetry = setTimeout(openFeed, 3000);
}

function eventLabel(kind) {
  return (TEXT[state.lang].events || TEXT.es.events)[kind] || kind;
}

function onFeedEvent(e) {
  state.lastEventId = e.lastEventId;
  const data = JSON.parse(e.data);
  logActivity(e.type, data);
  const here = data.project_id === state.project;
  if (here && (e.type.startsWith("index.") || e.type === "document.converted") && !$("panel-docs").hidden) {
    loadDocuments();
  }
  const stage = e.type.startsWith("transcription.") || e.type === "summary.ready";
  if (stage && state.meeting && data.meeting_id === state.meeting.id) showMeetingEvent(e.type, data);
}

function logActivity(kind, data) {
  const projects = Object.fromEntries([...$("project-select").options].map((o) => [o.value, o.textContent]));
  const what = data.task || data.title || data.source_type || "";
  const detail = data.percent != null ? ` ${data.percent}%` : data.error || data.reason ? `: ${data.error || data.reason}` : "";
  const when = new Date((data.ts || 0) * 1000).toLocaleTimeString(state.lang);
  const list = $("activity-list");
  list.prepend(el("li", { "data-kind": kind, text: `${when} · ${projects[data.project_id] || ""} · ${eventLabel(kind)}` +
    `${what ? ` · ${what}` : ""}${detail}` }));
  while (list.children.length > 30) list.lastChild.remove();
}

// --- recordings ---------------------------------------------------------------------------------

function once(target, name) {
  return new Promise((resolve, reject) => {
    target.addEventListener(name, resolve, { once: true });
    target.addEventListener("error", reject, { once: true });
  });
}

async function playRecording(meetingId, seconds, label) {
  const player = $("player");
  $("player-bar").hidden = false;
  $("player-label").textContent = label || "";
  if (player.dataset.meeting !== meetingId) {
    let link;
    try {
      link = await api(`/meetings/${meetingId}/recording/token`, { method: "POST" });
    } catch (error) {
      $("player-label").textContent = error.status === 404 ? t("noRecording") : `${t("error")}: ${error.message}`;
      return;
    }
    const loaded = once(player, "loadedmetadata");
    player.src = link.url;
    player.dataset.meeting = meetingId;
    try { await loaded; } catch (_) { delete player.dataset.meeting; return; }
  }
  player.currentTime = Number(seconds) || 0;
  player.play().catch(() => { /* autoplay refused: the controls are there */ });
}

// --- start --------------------------------------------------------------------------------------

async function start() {
  try {
    const config = await fetch("/console/config.json").then((r) => r.json());
    state.lang = config.language in TEXT ? config.language : "es";
  } catch (_) { state.lang = "es"; }
  translate();
  setAuthMode(false);
  $("auth-form").addEventListener("submit", onAuthSubmit);
  $("auth-toggle").addEventListener("click", () => setAuthMode(!registering));
  $("logout").addEventListener("click", signOut);
  $("project-select").addEventListener("change", () => { state.project = $("project-select").value; state.conversation = null; showProject(); });
  $("project-form").addEventListener("submit", onProjectCreate);
  document.querySelectorAll("[role=tab]").forEach((tab) => {
    tab.addEventListener("click", () => selectTab(tab.id.replace("tab-", "")));
    tab.addEventListener("keydown", onTabKey);
  });
  $("chat-form").addEventListener("submit", onChatSubmit);
  $("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("chat-stop").addEventListener("click", onChatStop);
  $("search-form").addEventListener("submit", onSearch);
  $("doc-form").addEventListener("submit", onDocumentCreate);
  $("doc-upload-form").addEventListener("submit", onDocumentUpload);
  $("meeting-form").addEventListener("submit", onMeetingCreate);
  $("upload-form").addEventListener("submit", onUpload);
  // A recording's token expires: a failed load mints a new one on the next play.
  $("player").addEventListener("error", () => { delete $("player").dataset.meeting; });
  const saved = JSON.parse(sessionStorage.getItem("v1tr0.tokens") || "null");
  if (saved) {
    state.access = saved.access; state.refresh = saved.refresh;
    try { await enter(); } catch (_) { signOut(); }
  }
}

document.addEventListener("DOMContentLoaded", start);
