// V1tr0 console: sign in, pick a project, chat (SSE), search, documents, meetings, insights; one event
// feed (SSE) for what changes in every project, and the recording of a cited moment of a meeting.
// Plain JS, no dependencies, no inline handlers (the page's CSP allows only this origin's scripts).
// Every view shows only what the API returned, in one language: each word on screen comes from TEXT or
// from the project's own content (marked class="content"); a missing value is left out, never printed.
"use strict";

// One table per language. Written as JSON (quoted keys, no trailing commas) so that
// tests/console/test_languages.py can read it beside the server's table (core/i18n.py).
const TEXT = {
  "es": {
    "signIn": "Entrar", "register": "Crear cuenta", "needAccount": "Crear una cuenta", "haveAccount": "Ya tengo cuenta",
    "email": "Correo", "password": "Contraseña", "fullName": "Nombre", "logout": "Salir", "project": "Proyecto",
    "language": "Idioma", "sections": "Secciones", "suggestions": "Preguntas sugeridas",
    "newProject": "Nuevo proyecto", "create": "Crear", "chat": "Chat", "search": "Buscar", "documents": "Documentos",
    "meetings": "Reuniones", "insights": "Salud", "askSomething": "Pregunta algo sobre el proyecto", "send": "Enviar",
    "stop": "Detener", "searchPlaceholder": "Buscar en todos tus proyectos", "onlyThisProject": "Solo este proyecto",
    "title": "Título", "content": "Contenido", "addDocument": "Añadir documento", "newMeeting": "Nueva reunión",
    "close": "Cerrar", "sources": "Fuentes", "noResults": "Sin resultados.",
    "indexed": "fragmentos indexados", "pending": "pendientes", "retrying": "reintentando", "failed": "con error",
    "noProjects": "Crea tu primer proyecto.", "stopped": "Detenido.", "thinking": "Pensando…",
    "summary": "Resumen", "keyPoints": "Puntos clave", "decisions": "Decisiones", "commitments": "Compromisos",
    "nextSteps": "Próximos pasos", "risks": "Riesgos", "transcript": "Transcripción", "health": "Salud del proyecto",
    "chart": "Progreso, tiempo, presupuesto y horas", "budget": "Presupuesto", "hours": "Horas", "progress": "Progreso",
    "time": "Tiempo", "on_track": "En buen camino", "at_risk": "En riesgo", "off_track": "Desviado", "unknown": "Sin datos",
    "meeting": "Reunión", "page": "p.", "slide": "diapositiva", "error": "Error", "reconnecting": "Reconectando…",
    "indexIncomplete": "Índice incompleto: {n} cambios aún sin indexar; los resultados pueden no incluirlos.",
    "activity": "Actividad", "play": "Escuchar", "extractiveAnswer": "frases de las fuentes, sin modelo", "noRecording": "Esta reunión no tiene grabación.",
    "chatEmpty": "Pregunta lo que quieras sobre los documentos, las reuniones y las conversaciones del proyecto.",
    "noDocuments": "Aún no hay documentos: sube un archivo o escribe uno.",
    "noMeetings": "Aún no hay reuniones.",
    "noTranscription": "Sin transcripción todavía: sube la grabación o un archivo VTT, SRT o JSON.",
    "noSummary": "Esta reunión no tiene resumen.",
    "noInsightItems": "Aún no hay compromisos, decisiones, riesgos ni próximos pasos: salen de las reuniones y los documentos del proyecto.",
    "noActivity": "Sin actividad reciente.",
    "dropHint": "Arrastra un archivo aquí o", "chooseFile": "elige uno",
    "docTypes": "PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown o texto; hasta {size}.",
    "meetingFile": "Subir grabación o transcripción",
    "meetingTypes": "Audio, vídeo o transcripción VTT, SRT o JSON; hasta {size}.",
    "writeDocument": "O escribe un documento",
    "uploading": "Subiendo «{name}»…", "uploaded": "«{title}» añadido: {details}.",
    "convertedFrom": "convertido de {format}", "warnings": "{n} partes sin convertir",
    "received": "{kind} recibida: {stage}.", "due": "vence el {date}", "characters": "{n} caracteres",
    "pages": {"one": "{n} página", "other": "{n} páginas"},
    "slides": {"one": "{n} diapositiva", "other": "{n} diapositivas"},
    "sheets": {"one": "{n} hoja", "other": "{n} hojas"},
    "chunks": {"one": "{n} fragmento", "other": "{n} fragmentos"},
    "formats": {"markdown": "Markdown", "text": "texto"},
    "indexStates": {"indexed": "indexado", "pending": "pendiente de indexar", "retrying": "reintentando la indexación",
      "failed": "indexación fallida"},
    "sourceTypes": {"project": "proyecto", "document": "documento", "meeting": "reunión", "transcript": "transcripción",
      "summary": "resumen", "key_points": "puntos clave", "commitments": "compromisos", "chat": "conversación"},
    "sourceKinds": {"audio": "Grabación", "vtt": "Transcripción VTT", "srt": "Transcripción SRT",
      "json": "Transcripción JSON"},
    "stages": {"queued": "en cola", "transcribing": "transcribiendo", "summarising": "resumiendo",
      "indexing": "indexando", "indexed": "lista", "failed": "fallida"},
    "meetingStatus": {"scheduled": "programada", "in-progress": "en curso", "completed": "terminada",
      "cancelled": "cancelada"},
    "commitmentStatus": {"open": "pendiente", "done": "cumplido", "dropped": "descartado"},
    "events": {
      "index.indexed": "indexado", "index.retrying": "indexación reintentando", "index.failed": "indexación fallida",
      "transcription.queued": "transcripción en cola", "transcription.transcribing": "transcribiendo",
      "transcription.summarising": "resumiendo", "transcription.indexed": "transcripción indexada",
      "transcription.failed": "transcripción fallida", "summary.ready": "resumen listo",
      "commitment.created": "compromiso nuevo", "commitment.closed": "compromiso cerrado",
      "commitment.reopened": "compromiso reabierto", "commitment.moved": "compromiso con fecha nueva",
      "commitment.due_soon": "compromiso vence pronto",
      "commitment.overdue": "compromiso vencido", "insights.refreshed": "salud actualizada",
      "document.converted": "documento convertido"
    },
    "errors": {
      "file_too_large": "El archivo pesa más de {limit}, el máximo.",
      "payload_too_large": "El archivo pesa más de {limit}, el máximo.",
      "unsupported_media_type": "Ese tipo de archivo no se admite: sube PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown o texto.",
      "type_mismatch": "La extensión del archivo dice un formato y su contenido es de otro.",
      "empty_file": "El archivo está vacío.",
      "encrypted": "El archivo está protegido con contraseña.",
      "corrupt_file": "El archivo está dañado y no se puede leer.",
      "scanned_pdf": "El PDF es una imagen escaneada: no tiene texto que leer.",
      "empty_document": "El documento no tiene texto.",
      "too_many_pages": "El documento tiene demasiadas páginas.",
      "text_too_long": "El texto del documento es demasiado largo.",
      "zip_bomb": "El archivo no es seguro de abrir.", "archive_too_large": "El archivo no es seguro de abrir.",
      "unsafe_xml": "El archivo no es seguro de abrir.",
      "invalid_encoding": "El texto no está en UTF-8.",
      "conversion_failed": "No se pudo convertir el archivo.",
      "conversion_timeout": "Convertir el archivo tardó demasiado.",
      "invalid_transcript": "No se puede leer la transcripción (línea {line}).",
      "unsupported_media": "Sube audio, vídeo o una transcripción VTT, SRT o JSON.",
      "audio_too_long": "La grabación es demasiado larga.",
      "transcription_in_progress": "Ya se está procesando una transcripción de esta reunión.",
      "email_taken": "Ya hay una cuenta con ese correo.",
      "rate_limited": "Demasiadas peticiones: prueba de nuevo en {seconds} s.",
      "network": "No hay conexión con el servidor.",
      "wrongLogin": "Correo o contraseña incorrectos.",
      "checkForm": "Revisa el correo y la contraseña (al menos 8 caracteres).",
      "400": "La petición no es válida.", "401": "La sesión ha caducado: vuelve a entrar.",
      "403": "No tienes permiso para hacer esto.", "404": "No se encuentra.", "409": "Choca con lo que ya hay guardado.",
      "413": "El archivo pesa más de {limit}, el máximo.", "415": "Ese tipo de archivo no se admite.",
      "422": "Revisa los datos.", "429": "Demasiadas peticiones: prueba de nuevo en {seconds} s.",
      "500": "Algo ha fallado en el servidor.", "503": "Un servicio no está disponible: prueba más tarde.",
      "other": "Algo ha fallado."
    }
  },
  "en": {
    "signIn": "Sign in", "register": "Create account", "needAccount": "Create an account", "haveAccount": "I have an account",
    "email": "Email", "password": "Password", "fullName": "Name", "logout": "Sign out", "project": "Project",
    "language": "Language", "sections": "Sections", "suggestions": "Suggested questions",
    "newProject": "New project", "create": "Create", "chat": "Chat", "search": "Search", "documents": "Documents",
    "meetings": "Meetings", "insights": "Health", "askSomething": "Ask something about the project", "send": "Send",
    "stop": "Stop", "searchPlaceholder": "Search all your projects", "onlyThisProject": "Only this project",
    "title": "Title", "content": "Content", "addDocument": "Add document", "newMeeting": "New meeting",
    "close": "Close", "sources": "Sources", "noResults": "No results.",
    "indexed": "chunks indexed", "pending": "pending", "retrying": "retrying", "failed": "failed",
    "noProjects": "Create your first project.", "stopped": "Stopped.", "thinking": "Thinking…",
    "summary": "Summary", "keyPoints": "Key points", "decisions": "Decisions", "commitments": "Commitments",
    "nextSteps": "Next steps", "risks": "Risks", "transcript": "Transcript", "health": "Project health",
    "chart": "Progress, time, budget and hours", "budget": "Budget", "hours": "Hours", "progress": "Progress",
    "time": "Time", "on_track": "On track", "at_risk": "At risk", "off_track": "Off track", "unknown": "No data",
    "meeting": "Meeting", "page": "p.", "slide": "slide", "error": "Error", "reconnecting": "Reconnecting…",
    "indexIncomplete": "Index incomplete: {n} changes not indexed yet; results may miss them.",
    "activity": "Activity", "play": "Play", "extractiveAnswer": "sentences from the sources, no model", "noRecording": "This meeting has no recording.",
    "chatEmpty": "Ask anything about the project's documents, meetings and conversations.",
    "noDocuments": "No documents yet: upload a file or write one.",
    "noMeetings": "No meetings yet.",
    "noTranscription": "No transcript yet: upload the recording or a VTT, SRT or JSON file.",
    "noSummary": "This meeting has no summary.",
    "noInsightItems": "No commitments, decisions, risks or next steps yet: they come from the project's meetings and documents.",
    "noActivity": "No recent activity.",
    "dropHint": "Drop a file here or", "chooseFile": "choose one",
    "docTypes": "PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown or text; up to {size}.",
    "meetingFile": "Upload a recording or a transcript",
    "meetingTypes": "Audio, video or a VTT, SRT or JSON transcript; up to {size}.",
    "writeDocument": "Or write a document",
    "uploading": "Uploading “{name}”…", "uploaded": "“{title}” added: {details}.",
    "convertedFrom": "converted from {format}", "warnings": "{n} parts not converted",
    "received": "{kind} received: {stage}.", "due": "due {date}", "characters": "{n} characters",
    "pages": {"one": "{n} page", "other": "{n} pages"},
    "slides": {"one": "{n} slide", "other": "{n} slides"},
    "sheets": {"one": "{n} sheet", "other": "{n} sheets"},
    "chunks": {"one": "{n} chunk", "other": "{n} chunks"},
    "formats": {"markdown": "Markdown", "text": "text"},
    "indexStates": {"indexed": "indexed", "pending": "waiting to be indexed", "retrying": "indexing being retried",
      "failed": "indexing failed"},
    "sourceTypes": {"project": "project", "document": "document", "meeting": "meeting", "transcript": "transcript",
      "summary": "summary", "key_points": "key points", "commitments": "commitments", "chat": "conversation"},
    "sourceKinds": {"audio": "Recording", "vtt": "VTT transcript", "srt": "SRT transcript",
      "json": "JSON transcript"},
    "stages": {"queued": "queued", "transcribing": "transcribing", "summarising": "summarising",
      "indexing": "indexing", "indexed": "ready", "failed": "failed"},
    "meetingStatus": {"scheduled": "scheduled", "in-progress": "in progress", "completed": "finished",
      "cancelled": "cancelled"},
    "commitmentStatus": {"open": "open", "done": "done", "dropped": "dropped"},
    "events": {
      "index.indexed": "indexed", "index.retrying": "indexing retrying", "index.failed": "indexing failed",
      "transcription.queued": "transcription queued", "transcription.transcribing": "transcribing",
      "transcription.summarising": "summarising", "transcription.indexed": "transcript indexed",
      "transcription.failed": "transcription failed", "summary.ready": "summary ready",
      "commitment.created": "new commitment", "commitment.closed": "commitment closed",
      "commitment.reopened": "commitment reopened", "commitment.moved": "commitment rescheduled",
      "commitment.due_soon": "commitment due soon",
      "commitment.overdue": "commitment overdue", "insights.refreshed": "health refreshed",
      "document.converted": "document converted"
    },
    "errors": {
      "file_too_large": "The file is larger than {limit}, the limit.",
      "payload_too_large": "The file is larger than {limit}, the limit.",
      "unsupported_media_type": "That type of file is not supported: upload PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown or text.",
      "type_mismatch": "The file's extension says one format and its content is another.",
      "empty_file": "The file is empty.",
      "encrypted": "The file is password-protected.",
      "corrupt_file": "The file is damaged and cannot be read.",
      "scanned_pdf": "The PDF is a scanned image: it has no text to read.",
      "empty_document": "The document has no text.",
      "too_many_pages": "The document has too many pages.",
      "text_too_long": "The document's text is too long.",
      "zip_bomb": "The file is not safe to open.", "archive_too_large": "The file is not safe to open.",
      "unsafe_xml": "The file is not safe to open.",
      "invalid_encoding": "The text is not UTF-8.",
      "conversion_failed": "The file could not be converted.",
      "conversion_timeout": "Converting the file took too long.",
      "invalid_transcript": "The transcript cannot be read (line {line}).",
      "unsupported_media": "Upload audio, video or a VTT, SRT or JSON transcript.",
      "audio_too_long": "The recording is too long.",
      "transcription_in_progress": "A transcript of this meeting is already being processed.",
      "email_taken": "There is already an account with that email.",
      "rate_limited": "Too many requests: try again in {seconds} s.",
      "network": "The server cannot be reached.",
      "wrongLogin": "Wrong email or password.",
      "checkForm": "Check the email and the password (at least 8 characters).",
      "400": "The request is not valid.", "401": "The session has expired: sign in again.",
      "403": "You are not allowed to do this.", "404": "Not found.", "409": "It conflicts with what is stored.",
      "413": "The file is larger than {limit}, the limit.", "415": "That type of file is not supported.",
      "422": "Check the data.", "429": "Too many requests: try again in {seconds} s.",
      "500": "Something failed on the server.", "503": "A service is unavailable: try later.",
      "other": "Something failed."
    }
  }
};

const LANGUAGES = Object.keys(TEXT);
const state = { lang: "es", config: {}, access: null, refresh: null, user: null, project: null, stream: null,
  messageId: null, meeting: null, conversation: null, feed: null, lastEventId: null, feedRetry: null,
  activity: [], query: null, playerLabel: null };
const $ = (id) => document.getElementById(id);

// A label of the current language (falling back to Spanish, then to nothing: never to the key).
function t(key, values) {
  const found = (TEXT[state.lang] || {})[key];
  const template = typeof found === "string" ? found : typeof TEXT.es[key] === "string" ? TEXT.es[key] : "";
  return fill(template, values);
}

// A value of an enumeration (a stage, a status, a source type) as a word of the current language.
function word(group, value) {
  const table = (TEXT[state.lang] || TEXT.es)[group] || {};
  return table[value] != null ? table[value] : String(value == null ? "" : value);
}

function plural(group, n) {
  const forms = (TEXT[state.lang] || TEXT.es)[group];
  return fill(n === 1 ? forms.one : forms.other, { n: number(n) });
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => (values && values[name] != null ? String(values[name]) : ""));
}

function number(n) { return new Intl.NumberFormat(state.lang).format(n); }

function percent(ratio) { return new Intl.NumberFormat(state.lang, { style: "percent" }).format(ratio); }

function bytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let value = Number(n) || 0, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${new Intl.NumberFormat(state.lang, { maximumFractionDigits: 1 }).format(value)} ${units[unit]}`;
}

// "2026-11-27" (a date) or a timestamp, as the language writes a date: 27 de noviembre de 2026.
function longDate(value) {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T12:00:00`) : new Date(value);
  if (Number.isNaN(day.getTime())) return String(value);
  return day.toLocaleDateString(state.lang, { day: "numeric", month: "long", year: "numeric" });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null) continue;
    if (key === "text") node.textContent = value;
    else if (key === "html") node.innerHTML = value; // only for server-escaped snippets
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null && child !== false && child !== "") node.append(child);
  return node;
}

// Replace a container's children; with none, a readable empty state instead (never "null").
function fillList(container, items, emptyKey) {
  const present = items.filter((item) => item != null);
  if (present.length) container.replaceChildren(...present);
  else container.replaceChildren(el(container.tagName === "UL" || container.tagName === "OL" ? "li" : "p",
    { class: "empty", text: t(emptyKey) }));
}

// Project content (titles, snippets, transcript lines): shown as it is, in the language it was written in.
function content(tag, text, attrs = {}) {
  return el(tag, { ...attrs, class: `content ${attrs.class || ""}`.trim() }, text);
}

// A view reading the API is aria-busy until every read it started has been drawn.
async function loading(panelId, work) {
  const panel = $(panelId);
  panel.reads = (panel.reads || 0) + 1;
  panel.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    panel.reads -= 1;
    if (!panel.reads) panel.removeAttribute("aria-busy");
  }
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
  document.querySelectorAll("[data-i18n-label]").forEach((node) => {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  });
  $("doc-types").textContent = t("docTypes", { size: bytes(state.config.max_upload_bytes) });
  $("meeting-types").textContent = t("meetingTypes", { size: bytes(state.config.max_upload_bytes) });
  $("lang").value = state.lang;
}

// --- HTTP ---------------------------------------------------------------------------------------

async function api(path, options = {}, retry = true) {
  const headers = Object.assign({ "Accept-Language": state.lang }, options.headers || {});
  if (state.access) headers.Authorization = `Bearer ${state.access}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method: options.method || "GET", headers, body: options.body });
  } catch (_) {
    throw Object.assign(new Error("network"), { code: "network", status: 0 });
  }
  if (response.status === 401 && retry && state.refresh && await refreshTokens()) return api(path, options, false);
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = body.error || {};
    throw Object.assign(new Error(detail.message || response.statusText), {
      status: response.status, code: detail.code, details: detail.details,
      retryAfter: response.headers.get("Retry-After"),
    });
  }
  return body;
}

// An API error in the user's language: its code when the table knows it, else its status. (The API's
// own message is English and technical; the console says what happened in its own words.)
function errorText(error, overrides = {}) {
  const errors = (TEXT[state.lang] || TEXT.es).errors;
  const key = overrides[error.status] || (error.code in errors ? error.code : String(error.status));
  const details = error.details && typeof error.details === "object" && !Array.isArray(error.details) ? error.details : {};
  return fill(errors[key] || errors.other, { limit: bytes(state.config.max_upload_bytes),
    seconds: error.retryAfter || "", line: details.line });
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
  state.activity = [];
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
    $("auth-error").textContent = errorText(error, { 401: "wrongLogin", 422: "checkForm" });
  }
}

async function enter() {
  state.user = await api("/auth/me");
  $("who-name").textContent = state.user.full_name || state.user.email;
  $("who").hidden = false; $("auth-view").hidden = true; $("main-view").hidden = false;
  renderActivity();
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

function projectNames() {
  return Object.fromEntries([...$("project-select").options].filter((o) => o.value).map((o) => [o.value, o.textContent]));
}

async function showProject() {
  $("messages").replaceChildren();
  $("chat-empty").hidden = false;
  state.meeting = null;
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

// Another language: every label, and every view read again (the API writes some words too).
async function onLanguageChange() {
  state.lang = LANGUAGES.includes($("lang").value) ? $("lang").value : "es";
  localStorage.setItem("v1tr0.lang", state.lang);
  translate();
  setAuthMode(registering);
  if (!state.user) return;
  renderActivity();
  document.querySelectorAll("#messages .sources").forEach((box) => renderCitations(box, box.citations));
  if (state.playerLabel) $("player-label").textContent = state.playerLabel();
  showUploadStatus("", "");
  const meeting = state.meeting;
  if (state.project) {
    loadSuggestions(); loadDocuments();
    await loadMeetings();
    if (meeting) openMeeting(meeting);
    if (currentTab() === "insights") loadInsights();
  }
  if (state.query) runSearch();
}

// --- chat ---------------------------------------------------------------------------------------

function loadSuggestions() { return loading("panel-chat", readSuggestions); }

async function readSuggestions() {
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
  return `[${c.n}] ${c.title || word("sourceTypes", c.source_type)}${where}`;
}

function renderCitations(container, citations) {
  container.citations = citations; // drawn again in another language
  container.replaceChildren();
  if (!citations || !citations.length) return;
  const list = el("ol", { class: "citations", "aria-label": t("sources") });
  for (const c of citations) {
    list.append(el("li", { value: String(c.n) }, el("button", { type: "button", class: "link citation",
      text: citationLabel(c), onclick: () => openChunk(c) }), playButton(c, () => citationLabel(c))));
  }
  container.append(list);
}

// A transcript passage (a citation, a search hit) plays the meeting's recording from its start; `label`
// says what is playing (a function: the language may change while it plays).
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
  $("chat-empty").hidden = true;
  $("messages").append(content("li", message, { class: "msg user" }));
  const text = content("div", "", { class: "answer" });
  const status = el("div", { class: "status", text: t("thinking") });
  const citations = el("div", { class: "sources" });
  const bubble = el("li", { class: "msg assistant" }, text, citations, status);
  $("messages").append(bubble);
  let ticket;
  try {
    ticket = await api(`/ai/chat/${state.project}/streams`, { method: "POST",
      json: { message, conversation_id: state.conversation || null } });
  } catch (error) {
    status.textContent = errorText(error);
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
  stream.addEventListener("delta", (e) => { text.textContent += JSON.parse(e.data).text || ""; });
  stream.addEventListener("citations", (e) => renderCitations(citations, JSON.parse(e.data).citations));
  stream.addEventListener("done", (e) => {
    const done = JSON.parse(e.data);
    const ms = (done.timings || {}).total_ms;
    // (the extractive answerer's name is an English identifier: said in the console's words instead)
    const by = done.provider === "extractive" ? [t("extractiveAnswer")] : [done.provider, done.model];
    finish([...by, ms != null ? `${number(Math.round(ms))} ms` : null].filter(Boolean).join(" · "));
  });
  stream.addEventListener("error", (e) => {
    if (e.data) {
      const error = JSON.parse(e.data);
      finish(error.code === "stopped" ? t("stopped") : errorText({ code: error.code, status: 500 }));
    } else if (stream.readyState === EventSource.CONNECTING) {
      status.textContent = t("reconnecting");
    } else {
      finish();
    }
  });
}

function indexIncomplete(n) {
  return t("indexIncomplete", { n: number(n) });
}

async function onChatStop() {
  if (!state.messageId) return;
  await api(`/ai/chat/${state.project}/messages/${state.messageId}/stop`, { method: "POST" });
}

// --- search -------------------------------------------------------------------------------------

async function onSearch(event) {
  event.preventDefault();
  state.query = { q: $("search-input").value.trim(), scoped: $("search-scope").checked };
  await runSearch();
}

function runSearch() { return loading("panel-search", readSearch); }

async function readSearch() {
  const q = encodeURIComponent(state.query.q);
  const path = state.query.scoped && state.project ? `/ai/search/${state.project}?q=${q}` : `/search?q=${q}`;
  const list = $("search-results");
  list.replaceChildren();
  let body;
  try {
    body = await api(path);
  } catch (error) {
    list.append(el("li", { class: "error", role: "alert", text: errorText(error) }));
    return;
  }
  const projects = projectNames();
  const rows = body.results.map((r) => {
    const when = r.start != null ? ` · ${t("meeting")} ${mmss(r.start)}–${mmss(r.end)}` : documentPlace(r);
    return el("li", { class: "result" },
      el("div", { class: "meta" },
        projects[r.project_id] ? content("span", projects[r.project_id]) : null,
        projects[r.project_id] ? " · " : null,
        el("span", { class: "source-type", text: word("sourceTypes", r.source_type) }),
        r.title ? " · " : null, r.title ? content("span", r.title) : null,
        when, playButton(r, () => r.title || "")),
      el("div", { class: "snippet content", html: r.snippet }));
  });
  fillList(list, rows, "noResults");
  if (body.index_pending) list.prepend(el("li", { class: "notice", text: indexIncomplete(body.index_pending) }));
}

// --- documents ----------------------------------------------------------------------------------

function documentDetails(d) {
  const parts = [];
  if (d.source_format) parts.push(t("convertedFrom", { format: formatName(d.source_format) }));
  if (d.page_count != null) parts.push(pageCount(d.source_format, d.page_count));
  if (d.file_size != null) parts.push(bytes(d.file_size));
  else if (d.size != null) parts.push(t("characters", { n: number(d.size) }));
  const warnings = (d.conversion_warnings || []).length;
  if (warnings) parts.push(t("warnings", { n: number(warnings) }));
  return parts.join(" · ");
}

function formatName(format) {
  const names = (TEXT[state.lang] || TEXT.es).formats;
  return names[format] || String(format).toUpperCase();
}

function pageCount(format, n) {
  return plural(format === "pptx" ? "slides" : format === "xlsx" ? "sheets" : "pages", n);
}

function loadDocuments() { return loading("panel-docs", readDocuments); }

async function readDocuments() {
  if (!state.project) return;
  const project = state.project;
  const [page, status] = await Promise.all([
    api(`/projects/${project}/documents?limit=50`), api(`/projects/${project}/index-status`)]);
  if (project !== state.project) return;
  fillList($("doc-list"), page.items.map((d) => el("li", { class: "doc", "data-state": d.index_state },
    content("span", d.title, { class: "doc-title" }),
    el("span", { class: "meta", text: documentDetails(d) }),
    el("span", { class: `doc-state state-${d.index_state}`, text: [word("indexStates", d.index_state),
      d.index_state === "indexed" ? plural("chunks", d.indexed_chunks) : null].filter(Boolean).join(" · ") }))),
  "noDocuments");
  $("index-status").textContent =
    `${number(status.indexed_chunks)} ${t("indexed")} · ${number(status.pending)} ${t("pending")} · ` +
    `${number(status.retrying)} ${t("retrying")} · ${number(status.failed)} ${t("failed")}`;
  $("index-status").dataset.pending = String(status.pending);
  $("index-status").dataset.indexed = String(status.indexed_chunks);
}

async function onDocumentCreate(event) {
  event.preventDefault();
  try {
    await api(`/projects/${state.project}/documents`, { method: "POST",
      json: { title: $("doc-title").value, content: $("doc-content").value } });
  } catch (error) {
    showUploadStatus(errorText(error), "error");
    return;
  }
  $("doc-title").value = ""; $("doc-content").value = "";
  await loadDocuments(); // the feed's index.* events refresh it as the worker indexes
}

function showUploadStatus(text, kind) {
  const status = $("doc-upload-status");
  status.textContent = text;
  status.className = kind;
  status.setAttribute("role", kind === "error" ? "alert" : "status");
}

// One file or several (a drop may bring more), one after the other; each result shown where it was dropped.
async function uploadDocuments(files) {
  for (const file of files) {
    if (!state.project) return;
    showUploadStatus(t("uploading", { name: file.name }), "busy");
    const form = new FormData();
    form.append("file", file);
    try {
      const doc = await api(`/projects/${state.project}/documents/upload`, { method: "POST", body: form });
      await loadDocuments(); // first, so that the index status counts the new document as pending
      showUploadStatus(t("uploaded", { title: doc.title, details: documentDetails(doc) }), "ok");
    } catch (error) {
      showUploadStatus(`${file.name}: ${errorText(error)}`, "error");
    }
  }
}

// A drop zone: a dragged file highlights it, a dropped one is uploaded; its file picker does the same.
function dropZone(zone, input, upload) {
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    await upload(files);
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...((event.dataTransfer && event.dataTransfer.files) || [])];
    if (files.length) upload(files);
  });
}

// --- meetings -----------------------------------------------------------------------------------

function loadMeetings() { return loading("panel-meetings", readMeetings); }

async function readMeetings() {
  const page = await api(`/meetings?project_id=${state.project}&limit=50`);
  fillList($("meeting-list"), page.items.map((m) => el("li", {},
    el("button", { type: "button", class: "link content", text: m.title, onclick: () => openMeeting(m) }),
    el("span", { class: "meta", text: ` · ${word("meetingStatus", m.status)}` }))), "noMeetings");
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
  showMeetingStatus("", "");
  $("upload-progress").hidden = true;
  $("transcription").replaceChildren();
  await loadTranscription(meeting.id); // what is there now; the feed brings what happens next
}

function showMeetingStatus(text, stage, kind = "muted") {
  const status = $("meeting-events");
  status.textContent = text;
  status.className = kind;
  status.setAttribute("role", kind === "error" ? "alert" : "status");
  if (stage) status.dataset.stage = stage; else delete status.dataset.stage;
}

// A transcription stage of the open meeting, from the feed.
function showMeetingEvent(kind, data) {
  const percentText = data.percent != null ? ` ${percent(data.percent / 100)}` : "";
  showMeetingStatus(`${eventLabel(kind)}${percentText}`, kind, kind === "transcription.failed" ? "error" : "muted");
  if (data.reason) $("meeting-events").title = data.reason; // the worker's words, for whoever looks closer
  if (data.percent != null) { $("upload-progress").hidden = false; $("upload-progress").value = data.percent; }
  if (kind === "summary.ready" || kind === "transcription.indexed") loadTranscription(data.meeting_id);
}

async function uploadRecording(files) {
  const file = files[0];
  if (!file || !state.meeting) return;
  const form = new FormData();
  form.append("file", file);
  showMeetingStatus(t("uploading", { name: file.name }), "");
  try {
    const accepted = await api(`/transcriptions/upload/${state.meeting.id}`, { method: "POST", body: form });
    if ($("meeting-events").dataset.stage) return; // the feed was quicker
    showMeetingStatus(t("received", { kind: word("sourceKinds", accepted.source_kind),
      stage: word("stages", accepted.stage) }), "");
  } catch (error) {
    showMeetingStatus(`${file.name}: ${errorText(error)}`, "", "error");
  }
}

function itemList(title, items, render) {
  if (!items || !items.length) return null;
  return el("section", {}, el("h4", { text: title }),
    el("ul", {}, ...items.map((item) => el("li", {}, ...render(item)))));
}

// Links to the moments of the transcript an item came from, by their time.
function segmentLinks(ids, segments) {
  return (ids || []).filter((id) => segments[id]).map((id) =>
    el("a", { href: `#seg-${id}`, class: "moment", text: mmss(segments[id].start) }));
}

function itemText(item) {
  return typeof item === "string" ? item : item.text || item.task || "";
}

function loadTranscription(meetingId) { return loading("panel-meetings", () => readTranscription(meetingId)); }

async function readTranscription(meetingId) {
  const page = await api(`/transcriptions?meeting_id=${meetingId}&limit=1`);
  if (!state.meeting || state.meeting.id !== meetingId) return;
  if (!page.items.length) {
    fillList($("transcription"), [], "noTranscription");
    return;
  }
  const tr = await api(`/transcriptions/${page.items[0].id}`);
  if (!state.meeting || state.meeting.id !== meetingId) return;
  if (!$("meeting-events").textContent) {
    showMeetingStatus(`${word("sourceKinds", tr.source_kind)}: ${word("stages", tr.stage)}`, "",
      tr.stage === "failed" ? "error" : "muted");
  }
  const segments = tr.segments || [];
  const moments = (item) => segmentLinks(item.segment_ids, segments);
  const finished = tr.processing_status === "completed";
  $("transcription").replaceChildren(...[
    tr.summary ? el("section", {}, el("h4", { text: t("summary") }), content("p", tr.summary, { class: "summary" }))
      : finished ? el("p", { class: "empty", text: t("noSummary") }) : null,
    itemList(t("keyPoints"), tr.key_points, (i) => [content("span", itemText(i)), ...moments(i)]),
    itemList(t("decisions"), tr.decisions, (i) => [content("span", itemText(i)), ...moments(i)]),
    itemList(t("commitments"), tr.commitments, (i) => [
      content("span", `${i.owner ? `${i.owner}: ` : ""}${itemText(i)}`, { class: "commitment" }),
      i.due ? el("span", { class: "meta", text: ` · ${t("due", { date: longDate(i.due) })}` }) : null,
      ...moments(i)]),
    itemList(t("nextSteps"), tr.next_steps, (i) => [content("span", itemText(i)), ...moments(i)]),
    segments.length ? el("h4", { text: t("transcript") }) : null,
    segments.length ? el("div", {}, ...segments.map((s, i) => content("span",
      `[${mmss(s.start)}] ${s.speaker ? `${s.speaker}: ` : ""}${s.text || ""}`, { id: `seg-${i}`, class: "segment" })))
      : null,
  ].filter(Boolean));
}

// --- insights -----------------------------------------------------------------------------------

function barChart(rows) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const height = rows.length * 34 + 10;
  svg.setAttribute("viewBox", `0 0 520 ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("chart"));
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
    pct.textContent = percent(value);
    svg.append(text, bar, pct);
  });
  const full = document.createElementNS(ns, "line");
  full.setAttribute("x1", "360"); full.setAttribute("x2", "360"); full.setAttribute("y1", "0");
  full.setAttribute("y2", String(height)); full.setAttribute("stroke", "#868e96"); full.setAttribute("stroke-dasharray", "4");
  svg.append(full);
  return svg;
}

function loadInsights() { return loading("panel-insights", readInsights); }

async function readInsights() {
  if (!state.project) return;
  const project = state.project;
  let body;
  try {
    body = await api(`/ai/insights/${project}`);
  } catch (error) {
    $("health").replaceChildren(el("p", { class: "error", role: "alert", text: errorText(error) }));
    return;
  }
  if (project !== state.project) return;
  const health = body.health || {}, stats = health.stats || {};
  $("health").replaceChildren(el("h3", {}, `${t("health")}: `,
    el("span", { class: `health-${health.status}`, text: t(health.status) })),
    el("ul", { class: "reasons" }, ...(health.reasons || []).map((r) => el("li", { text: r }))));
  // Only the numbers the project has: a missing one is no bar, not a 0 % or a NaN.
  const rows = [["progress", stats.progress != null ? stats.progress / 100 : null], ["time", stats.time_elapsed],
    ["budget", stats.budget_burn], ["hours", stats.hours_burn]]
    .filter(([, value]) => typeof value === "number" && Number.isFinite(value))
    .map(([key, value]) => [t(key), value]);
  $("burn-chart").replaceChildren(...(rows.length ? [barChart(rows)] : []));
  const cite = (item) => (item.citations || []).map((c) =>
    el("button", { type: "button", class: "link", text: `[${c.n}]`, "aria-label": citationLabel(c), onclick: () => openChunk(c) }));
  const render = (item) => [content("span", item.text), ...cite(item)];
  const sections = [
    itemList(t("commitments"), body.commitments, render), itemList(t("decisions"), body.decisions, render),
    itemList(t("risks"), body.risks, render), itemList(t("nextSteps"), body.next_steps, render)];
  fillList($("insight-lists"), sections, "noInsightItems");
}

// --- the event feed -----------------------------------------------------------------------------
// One EventSource for every project the user sees. It reconnects by itself (sending Last-Event-ID)
// while its token is valid; after that, a new token and ?last_event_id= resume where it stopped.

const FEED_KINDS = Object.keys(TEXT.es.events);
const ACTIVITY_SHOWN = 30;

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
  return word("events", kind);
}

function onFeedEvent(e) {
  state.lastEventId = e.lastEventId;
  const data = JSON.parse(e.data);
  state.activity.unshift({ kind: e.type, data });
  state.activity.length = Math.min(state.activity.length, ACTIVITY_SHOWN);
  renderActivity();
  const here = data.project_id === state.project;
  if (here && (e.type.startsWith("index.") || e.type === "document.converted") && !$("panel-docs").hidden) {
    loadDocuments();
  }
  const stage = e.type.startsWith("transcription.") || e.type === "summary.ready";
  if (stage && state.meeting && data.meeting_id === state.meeting.id) showMeetingEvent(e.type, data);
}

// The newest events first, in the current language; a failure's own words (English, technical) are
// kept in the item's tooltip.
function renderActivity() {
  const projects = projectNames();
  fillList($("activity-list"), state.activity.map(({ kind, data }) => {
    const what = data.task || data.title;
    const parts = [
      data.ts ? new Date(data.ts * 1000).toLocaleTimeString(state.lang) : null,
      projects[data.project_id] ? content("span", projects[data.project_id]) : null,
      eventLabel(kind),
      what ? content("span", what) : data.source_type ? word("sourceTypes", data.source_type) : null,
      data.percent != null ? percent(data.percent / 100) : null,
    ].filter(Boolean);
    return el("li", { "data-kind": kind, title: data.error || data.reason },
      ...parts.flatMap((part, i) => (i ? [" · ", part] : [part])));
  }), "noActivity");
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
  state.playerLabel = label;
  $("player-label").textContent = label();
  if (player.dataset.meeting !== meetingId) {
    let link;
    try {
      link = await api(`/meetings/${meetingId}/recording/token`, { method: "POST" });
    } catch (error) {
      $("player-label").textContent = error.status === 404 ? t("noRecording") : errorText(error);
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
    state.config = await fetch("/console/config.json").then((r) => r.json());
  } catch (_) { state.config = {}; }
  const chosen = localStorage.getItem("v1tr0.lang");
  state.lang = [chosen, state.config.language].find((lang) => LANGUAGES.includes(lang)) || "es";
  translate();
  setAuthMode(false);
  $("lang").addEventListener("change", onLanguageChange);
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
  dropZone($("doc-drop"), $("doc-file"), uploadDocuments);
  $("meeting-form").addEventListener("submit", onMeetingCreate);
  dropZone($("meeting-drop"), $("upload-file"), uploadRecording);
  // A recording's token expires: a failed load mints a new one on the next play.
  $("player").addEventListener("error", () => { delete $("player").dataset.meeting; });
  $("player-close").addEventListener("click", () => { $("player").pause(); $("player-bar").hidden = true; });
  const saved = JSON.parse(sessionStorage.getItem("v1tr0.tokens") || "null");
  if (saved) {
    state.access = saved.access; state.refresh = saved.refresh;
    try { await enter(); } catch (_) { signOut(); }
  }
}

document.addEventListener("DOMContentLoaded", start);
