// Kontor pages: every change goes to the JSON API with the CSRF token; all text is set with textContent.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

async function api(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
  const response = await fetch(url, options);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const detail = data && data.detail;
    const text = typeof detail === "string" ? detail : Array.isArray(detail) ? detail.map(d => d.msg).join("; ") : "";
    const error = new Error(text || `Fehler ${response.status}`);
    error.data = data;
    throw error;
  }
  return data;
}

function say(text, kind = "ok") {
  const box = document.getElementById("message");
  box.textContent = text; box.className = `message ${kind}`; box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

async function attempt(work) {
  try { await work(); } catch (error) { say(error.message, "error"); }
}

function waitForTask(taskId, done) {
  const bar = document.getElementById("task-bar"), item = document.getElementById("task-item");
  document.getElementById("task-progress").hidden = false;
  const tick = async () => {
    const task = await api("GET", `/api/tasks/${taskId}`);
    bar.max = Math.max(task.total || 1, 1); bar.value = task.done || 0;
    item.textContent = `${task.done || 0}/${task.total || "?"} ${task.item || ""}`;
    if (task.status === "running") { setTimeout(() => attempt(tick), 700); return; }
    if (task.status === "failed") { say(task.error || "Fehlgeschlagen", "error"); return; }
    done(task.result);
  };
  attempt(tick);
}

const ticket = document.querySelector(".ticket");
const draftId = ticket?.dataset.draft;
const draftText = () => document.getElementById("draft-text");

async function saveDraft() {
  const area = draftText();
  if (area && area.value !== area.defaultValue) {
    const saved = await api("PUT", `/api/drafts/${draftId}`, { text: area.value });
    area.defaultValue = area.value;
    // the outline (or preview) above shows the draft as it was written: say so once the text differs from it
    const stale = document.getElementById("outline-stale");
    if (stale && saved && saved.written_by) stale.hidden = saved.written_by.kind === "machine";
    return true;
  }
  return false;
}

const unsaved = () => { const area = draftText(); return area && !area.readOnly && area.value !== area.defaultValue; };
// leaving the page (link, reload, closing the tab) with an edit not yet saved: the browser asks first
window.addEventListener("beforeunload", (event) => {
  if (unsaved()) { event.preventDefault(); event.returnValue = ""; }
});

function categoryName(select, value) {
  const option = [...select.options].find(o => o.value === (value || ""));
  return option && value ? option.textContent.split(" – ")[0] : "–";
}

const actions = {
  logout: async () => { await api("DELETE", "/api/session"); location.href = "/login"; },
  save: async () => { say(await saveDraft() ? "Gespeichert." : "Keine Änderung."); },
  approve: async () => { await saveDraft(); await api("POST", `/api/drafts/${draftId}/approve`); location.reload(); },
  send: async () => {
    // the browser never sends a text other than the one on the screen: a change after the approval is saved,
    // which voids the approval, and the agent approves the new text first
    if (await saveDraft()) {
      say("Der Text wurde nach der Freigabe geändert und ist gespeichert – bitte erneut freigeben.", "error");
      document.querySelector("button[data-action=send]").disabled = true;
      document.querySelector("button[data-action=approve]").disabled = false;
      document.getElementById("ticket-status").textContent = "Geändert – bitte freigeben";
      return;
    }
    let result;
    try {
      result = await api("POST", `/api/drafts/${draftId}/send`, { confirm: [] });
    } catch (error) {
      const flags = error.data && error.data.flags;
      if (!flags || !flags.length) throw error;
      // the second click: the agent reads what is promised and confirms exactly these kinds
      if (!confirm(`${error.message}\n\nSo senden?`)) { say("Nicht gesendet.", "error"); return; }
      result = await api("POST", `/api/drafts/${draftId}/send`, { confirm: [...new Set(flags.map(f => f.kind))] });
    }
    if (result.status === "delivered") { location.reload(); return; }
    say(`Noch nicht zugestellt (${result.attempts} Versuch(e)): ${result.last_error || ""}. Kontor versucht es erneut.`, "error");
  },
  reject: async () => {
    const comment = prompt("Warum verwerfen? (optional)") ?? "";
    await api("POST", `/api/drafts/${draftId}/reject`, { comment });
    location.reload();
  },
  "eval-case": async () => {
    const result = await api("POST", `/api/tickets/${ticket.dataset.ticket}/eval-case`);
    say(`Evaluationsfall ${result.case} angelegt (${result.file}).`);
  },
  "cancel-send": async () => {
    await api("POST", `/api/drafts/${draftId}/cancel`);  // refused (409) once the delivery has begun
    location.reload();
  },
  "user-disable": async (button) => {
    if (!confirm(`${button.dataset.name} deaktivieren? Alle Sitzungen enden, alle Tokens werden widerrufen.`)) return;
    await api("POST", `/api/users/${button.dataset.user}/disable`);
    location.reload();
  },
  "user-enable": async (button) => { await api("POST", `/api/users/${button.dataset.user}/enable`); location.reload(); },
  "revoke-token": async (button) => {
    if (!confirm(`Token ${button.dataset.token} (${button.dataset.name}) widerrufen?`)) return;
    await api("POST", `/api/tokens/${button.dataset.token}/revoke`);
    location.reload();
  },
  "end-other-sessions": async () => {
    const { ended } = await api("DELETE", "/api/me/sessions");
    say(ended === 1 ? "1 andere Sitzung beendet." : `${ended} andere Sitzungen beendet.`);
  },
  regenerate: async () => {
    await api("POST", `/api/tickets/${ticket.dataset.ticket}/draft`);
    // remembered for the page after the new draft: it says when the model wrote the same text again
    sessionStorage.setItem(`kontor-before-${ticket.dataset.ticket}`, draftText()?.defaultValue ?? "");
    location.reload();
  },
  recategorise: async () => {
    // an explicit act (the select alone changes nothing): the category is set and learned as an example
    const select = document.getElementById("category");
    if (!select.value || select.value === ticket.dataset.category) { say("Keine Änderung der Kategorie."); return; }
    const result = await api("PUT", `/api/tickets/${ticket.dataset.ticket}/category`, { category: select.value });
    ticket.dataset.category = result.category;
    document.getElementById("category-name").textContent = categoryName(select, result.category);
    say(`Kategorie geändert: ${categoryName(select, result.category)} – als Beispiel gelernt. `);
    const undo = document.createElement("button");
    undo.type = "button"; undo.dataset.action = "undo-category"; undo.textContent = "Rückgängig";
    document.getElementById("message").appendChild(undo);
  },
  "undo-category": async () => {
    const select = document.getElementById("category");
    const result = await api("POST", `/api/tickets/${ticket.dataset.ticket}/category/undo`);
    ticket.dataset.category = result.category || "";
    if (result.category) select.value = result.category;
    document.getElementById("category-name").textContent = categoryName(select, result.category);
    say("Kategorie-Änderung zurückgenommen – das gelernte Beispiel ist entfernt.");
  },
  reindex: async () => {
    const { task_id } = await api("POST", "/api/reindex");
    waitForTask(task_id, () => { say("Index aktualisiert."); setTimeout(() => location.reload(), 600); });
  },
  "delete-document": async (button) => {
    if (!confirm(`${button.dataset.source} wirklich löschen?`)) return;
    await api("DELETE", `/api/documents/${encodeURIComponent(button.dataset.source)}`);
    location.reload();
  },
};

function newPassword(data) {
  if (data.get("repeat") !== (data.get("new") ?? data.get("password"))) throw new Error("Die beiden neuen Passwörter stimmen nicht überein.");
}

const forms = {
  "own-password": async (form) => {
    const data = new FormData(form);
    newPassword(data);
    await api("PUT", "/api/me/password", { current: data.get("current"), new: data.get("new") });
    form.reset();
    say("Passwort geändert. Ihre anderen Sitzungen sind beendet, Ihre API-Tokens widerrufen.");
  },
  "set-password": async (form) => {
    const data = new FormData(form);
    newPassword(data);
    await api("PUT", `/api/users/${form.dataset.user}/password`, { password: data.get("password") });
    form.reset();
    say("Passwort gesetzt. Alle Sitzungen dieses Benutzers sind beendet, seine API-Tokens widerrufen.");
  },
  recipient: async (form) => {
    await api("PUT", `/api/tickets/${ticket.dataset.ticket}/recipient`, { email: new FormData(form).get("email") });
    say("Empfängeradresse gespeichert.");
    setTimeout(() => location.reload(), 800);
  },
  "new-ticket": async (form) => {
    const data = new FormData(form);
    const name = (data.get("name") || "").trim(), email = (data.get("email") || "").trim();
    if (!name && !email) throw new Error("Bitte den Namen oder die E-Mail-Adresse des Kunden angeben.");
    const customer = name && email ? `${name} <${email}>` : (name || email);
    // a long text is kept whole and drafted from its beginning; over the hard cap it is refused here, with why
    const body = data.get("body") || "", most = Number(form.dataset.maxChars), bytes = Number(form.dataset.maxBytes);
    const ticket = { customer, subject: data.get("subject"), body, channel: data.get("channel") };
    const thousands = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    if (body.length > most) {
      throw new Error(`Der Text ist zu lang für ein Ticket: ${thousands(body.length)} Zeichen, höchstens ${thousands(most)}. `
        + "Bitte kürzen Sie ihn auf das Anliegen des Kunden.");
    }
    if (new Blob([JSON.stringify(ticket)]).size > bytes) {
      throw new Error(`Der Text ist zu groß für ein Ticket (mehr als ${thousands(Math.floor(bytes / 1000))} KB). `
        + "Bitte kürzen Sie ihn auf das Anliegen des Kunden.");
    }
    const created = await api("POST", "/api/tickets", ticket);
    location.href = `/tickets/${created.id}`;
  },
  rate: async (form) => {
    const data = new FormData(form);
    const verdict = { ja: true, nein: false }[data.get("handover_needed")];
    await api("POST", `/api/drafts/${draftId}/rating`, {
      score: Number(data.get("score")), comment: data.get("comment") || "", handover_needed: verdict ?? null });
    say("Danke – Bewertung gespeichert.");
  },
  upload: async (form) => {
    const result = await api("POST", "/api/documents", new FormData(form));
    say(`${result.source} hochgeladen${result.internal ? " (nur intern)" : ""} – wird indexiert …`);
    if (result.task_id) waitForTask(result.task_id, () => location.reload()); else setTimeout(() => location.reload(), 1500);
  },
  "new-prompt": async (form) => {
    const data = new FormData(form);
    const result = await api("POST", `/api/prompts/${form.dataset.task}`, {
      from_version: Number(form.dataset.from), system: data.get("system") ?? "", user: data.get("user") ?? "",
      letter: data.get("letter") ?? "", note: data.get("note") });
    say(`Version ${result.version} angelegt (Kandidat).`);
    setTimeout(() => location.reload(), 800);
  },
};

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (button && actions[button.dataset.action]) attempt(() => actions[button.dataset.action](button));
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "login-form") {
    event.preventDefault();
    const data = new FormData(form);
    attempt(async () => {
      await api("POST", "/api/session", { name: data.get("name"), password: data.get("password") });
      location.href = form.dataset.next || "/posteingang";
    });
  } else if (forms[form.dataset.actionSubmit]) {
    event.preventDefault();
    attempt(() => forms[form.dataset.actionSubmit](form));
  }
});

document.addEventListener("change", (event) => {
  const element = event.target;
  if (element.matches("[data-autosubmit]")) element.form.submit();
});

if (ticket && draftId && !ticket.dataset.waiting) {
  const key = `kontor-before-${ticket.dataset.ticket}`, before = sessionStorage.getItem(key);
  if (before !== null) {
    sessionStorage.removeItem(key);
    say(before === draftText()?.value ? "Der neue Entwurf ist wortgleich mit dem bisherigen – die Unterlagen geben "
      + "nichts anderes her. Bitte von Hand ergänzen." : "Neuer Entwurf erstellt.");
  }
}

// A ticket still being drafted (a new one, or "Neu entwerfen"): its place in the queue while it waits, the text as
// the model writes it, then the finished draft.
if (ticket && (!draftId || ticket.dataset.waiting)) {
  const place = document.getElementById("queue-position");
  const poll = setInterval(() => attempt(async () => {
    const now = await api("GET", `/api/tickets/${ticket.dataset.ticket}`);
    if (place) place.textContent = now.queue_position ? `Position ${now.queue_position} in der Warteschlange` : "wird jetzt geschrieben";
    if (!now.queue_position) clearInterval(poll);
  }), 2000);
  const live = document.getElementById("live-text");
  const source = new EventSource(`/api/tickets/${ticket.dataset.ticket}/live`);
  source.onmessage = (event) => { live.textContent += JSON.parse(event.data); };
  source.addEventListener("done", () => { source.close(); location.reload(); });
  source.onerror = () => { source.close(); setTimeout(() => location.reload(), 3000); };
}

// An internal note is saved without leaving the page, so an edit of the draft not yet saved stays where it is; the
// note joins the conversation in the shape of the page's #note-entry, its text set with textContent.
const germanTime = (iso) => `${new Intl.DateTimeFormat("de-DE", { timeZone: "Europe/Berlin", day: "2-digit",
  month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit" }).format(new Date(iso))} Uhr`;

forms.note = async (form) => {
  const area = form.elements.text, state = document.getElementById("note-state");
  state.textContent = "";
  const note = await api("POST", `/api/tickets/${ticket.dataset.ticket}/notes`, { text: area.value });
  const entry = document.getElementById("note-entry").content.firstElementChild.cloneNode(true);
  entry.querySelector(".entry-author").textContent = note.author;
  const time = entry.querySelector("time");
  time.dateTime = note.at; time.textContent = germanTime(note.at);
  entry.querySelector(".entry-text").textContent = note.body;
  document.getElementById("conversation").append(entry);
  area.value = "";
  state.textContent = "Notiz gespeichert – sie wird nicht gesendet.";
};

// Assignment: take the ticket ("Übernehmen") or give it to a colleague or a team. Only the card changes, so an
// unsaved edit of the answer stays where it is.
function showAssignment(result) {
  const card = document.querySelector(".assignment"), team = document.getElementById("assignee-team");
  document.getElementById("assignee-name").textContent = result.assignee || "niemand";
  team.textContent = result.team ? "Team " : "kein Team";
  if (result.team) { const name = document.createElement("strong"); name.textContent = result.team; team.append(name); }
  document.getElementById("assign-user").value = result.assignee || "";
  document.getElementById("assign-team").value = result.team || "";
  card.querySelector("button[data-action=take]").hidden = result.assignee === card.dataset.me;
}

actions.take = async () => {
  const me = document.querySelector(".assignment").dataset.me;
  showAssignment(await api("POST", `/api/tickets/${ticket.dataset.ticket}/assign`, { user: me }));
  say("Sie haben das Ticket übernommen.");
};

forms.assign = async (form) => {
  const data = new FormData(form);
  const result = await api("POST", `/api/tickets/${ticket.dataset.ticket}/assign`, {
    user: data.get("user") || null, team: data.get("team") || null });
  showAssignment(result);
  say(`Zuständig: ${result.assignee || "niemand"} / ${result.team ? `Team ${result.team}` : "kein Team"}.`);
};

// The collision warning: a heartbeat about every 20 s says that this person has the ticket open (and whether the
// answer differs from the saved text) and shows who else has it open; a change of that state is sent at once.
// Leaving the page takes the person off at once (a request that outlives the page); else it expires after 60 s.
if (ticket && document.getElementById("presence")) {
  const url = `/api/tickets/${ticket.dataset.ticket}/presence`;
  let sent = null, timer = null;
  const show = (others) => {
    document.getElementById("presence-names").textContent =
      others.map(o => (o.editing ? `${o.name} (bearbeitet gerade)` : o.name)).join(", ");
    document.getElementById("presence").hidden = !others.length;
  };
  const beat = async () => {
    sent = Boolean(unsaved());
    try { show((await api("POST", url, { editing: sent })).others); } catch (_) { /* the next beat tries again */ }
  };
  const start = () => { beat(); clearInterval(timer); timer = setInterval(beat, 20000); };
  setInterval(() => { if (timer && Boolean(unsaved()) !== sent) beat(); }, 1500);  // started or stopped editing
  start();
  window.addEventListener("pagehide", () => {
    clearInterval(timer); timer = null;
    fetch(url, { method: "DELETE", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin", keepalive: true })
      .catch(() => {});
  });
  window.addEventListener("pageshow", (event) => { if (event.persisted) start(); });  // back from the page cache
}

// Text modules (Textbausteine). On the ticket page the chosen module goes into the answer at the cursor (at the end
// while the answer never had the focus); the input event marks the text as changed, as typing does: "Speichern"
// saves it, leaving the page asks first. Nothing is saved or sent here. Its placeholders are filled by the server.
let answerCursorKnown = false;
document.addEventListener("focusin", (event) => { if (event.target.id === "draft-text") answerCursorKnown = true; });

actions["insert-text-module"] = async () => {
  const area = draftText(), option = document.getElementById("text-module").selectedOptions[0];
  if (!area || area.readOnly) return;
  if (!option || !option.value) throw new Error("Bitte zuerst einen Textbaustein wählen.");
  const start = answerCursorKnown ? area.selectionStart : area.value.length;
  const end = answerCursorKnown ? area.selectionEnd : start;
  const text = (!answerCursorKnown && area.value && !area.value.endsWith("\n") ? "\n" : "") + option.dataset.body;
  if (area.maxLength > 0 && area.value.length - (end - start) + text.length > area.maxLength) {
    throw new Error(`Mit dem Textbaustein würde der Antworttext zu lang (höchstens ${area.maxLength} Zeichen).`);
  }
  area.setRangeText(text, start, end, "end");
  area.dispatchEvent(new Event("input", { bubbles: true }));
  area.focus();
};

// The department's page: one form for a new module and for editing one; deleting asks first.
function editTextModule(module) {
  const form = document.getElementById("text-module-form"), heading = document.getElementById("tm-form-title");
  form.dataset.id = module.id || "";
  form.elements.title.value = module.title || "";
  form.elements.category.value = module.category || "";
  form.elements.body.value = module.body || "";
  heading.textContent = module.id ? heading.dataset.edit : heading.dataset.new;
  document.getElementById("tm-cancel").hidden = !module.id;
  return form;
}

actions["text-module-edit"] = async (button) => {
  const form = editTextModule(button.dataset);
  form.scrollIntoView({ block: "nearest" });
  form.elements.title.focus();
};
actions["text-module-new"] = async () => { editTextModule({}).elements.title.focus(); };
actions["text-module-delete"] = async (button) => {
  if (!confirm(`Textbaustein „${button.dataset.title}“ wirklich löschen?`)) return;
  await api("DELETE", `/api/text-modules/${button.dataset.id}`);
  location.reload();
};
forms["text-module"] = async (form) => {
  const data = new FormData(form), id = form.dataset.id;
  const module = { title: data.get("title"), body: data.get("body"), category: data.get("category") || null };
  const saved = await api(id ? "PUT" : "POST", id ? `/api/text-modules/${id}` : "/api/text-modules", module);
  say(`Textbaustein „${saved.title}“ gespeichert.`);
  setTimeout(() => location.reload(), 800);
};

// The admin page: add a user, change a user's role or team, create a token (its secret is shown once, here only).
// The team lists come from the category list's routing teams; a user's current team stays selected.
const teamSelects = document.querySelectorAll("select[data-teams]");
if (teamSelects.length) {
  attempt(async () => {
    const { teams } = await api("GET", "/api/teams");
    for (const select of teamSelects) {
      for (const team of teams) {
        if ([...select.options].some(o => o.value === team)) continue;
        const option = document.createElement("option");
        option.value = team; option.textContent = team;
        select.append(option);
      }
      select.value = select.dataset.current || "";
    }
  });
}

const roleNames = { agent: "Kundendienst", expert: "Fachbereich", admin: "Administration" };

forms["add-user"] = async (form) => {
  const data = new FormData(form);
  newPassword(data);
  const added = await api("POST", "/api/users", {
    name: (data.get("name") || "").trim(), role: data.get("role"), team: data.get("team") || null,
    password: data.get("password") });
  form.reset();
  say(`Benutzer ${added.name} (${roleNames[added.role] || added.role}${added.team ? `, Team ${added.team}` : ""}) angelegt.`);
  setTimeout(() => location.reload(), 1200);
};

actions["set-role"] = async (button) => {
  const role = document.getElementById(`role-${button.dataset.user}`).value;
  const changed = await api("PUT", `/api/users/${button.dataset.user}/role`, { role });
  say(`Rolle von ${changed.name}: ${roleNames[changed.role] || changed.role}.`);
};

actions["set-team"] = async (button) => {
  const select = document.getElementById(`team-${button.dataset.user}`);
  const changed = await api("PUT", `/api/users/${button.dataset.user}/team`, { team: select.value || null });
  select.dataset.current = changed.team || "";
  say(changed.team ? `Team von ${changed.name}: ${changed.team}.` : `${changed.name} gehört keinem Team mehr an.`);
};

forms["create-token"] = async (form) => {
  const data = new FormData(form), days = (data.get("days") || "").trim();
  const created = await api("POST", `/api/users/${data.get("user")}/tokens`, {
    label: (data.get("label") || "").trim(), days: days ? Number(days) : null });
  const box = document.getElementById("new-token"), secret = document.getElementById("new-token-secret");
  document.getElementById("new-token-user").textContent = created.info.user;
  secret.value = created.token;
  box.hidden = false;
  secret.focus(); secret.select();
  form.elements.label.value = ""; form.elements.days.value = "";
  const day = (iso) => new Intl.DateTimeFormat("de-DE", { timeZone: "Europe/Berlin", day: "2-digit", month: "2-digit",
    year: "numeric" }).format(new Date(iso));
  const rows = document.querySelector("#tokens tbody");
  if (!rows.querySelector("tr[data-token]")) rows.replaceChildren();  // "Keine Tokens."
  const row = document.createElement("tr");
  row.dataset.token = created.info.id;
  for (const text of [created.info.id, created.info.name, created.info.user, day(created.info.created_at),
    day(created.info.expires_at), "gültig"]) {
    const cell = document.createElement("td"); cell.textContent = text; row.append(cell);
  }
  const revoke = document.createElement("button");
  revoke.type = "button"; revoke.className = "danger"; revoke.textContent = "Widerrufen";
  revoke.dataset.action = "revoke-token"; revoke.dataset.token = created.info.id; revoke.dataset.name = created.info.name;
  const last = document.createElement("td"); last.append(revoke); row.append(last);
  rows.append(row);
};

actions["copy-token"] = async () => {
  const secret = document.getElementById("new-token-secret");
  secret.select();
  try { await navigator.clipboard.writeText(secret.value); say("Token kopiert."); }
  catch (_) { say("Bitte das markierte Token mit Strg+C kopieren."); }
};
