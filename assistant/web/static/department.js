// The department's pages (evaluation, knowledge documents). Uses api(), say(), attempt() and waitForTask() of
// kontor.js, which the page loads first; all text is set with textContent.
"use strict";
(() => {
  // --- evaluation: the version list follows the task; a run is followed from the server's progress registry ---
  const taskSelect = document.getElementById("eval-task"), promptSelect = document.getElementById("eval-prompt");
  if (taskSelect && promptSelect) {
    taskSelect.addEventListener("change", () => {
      const versions = document.querySelector(`template[data-versions-of="${taskSelect.value}"]`);
      if (versions) promptSelect.replaceChildren(versions.content.cloneNode(true));
    });
  }

  const box = document.getElementById("eval-running");
  const text = (id, value) => { const element = document.getElementById(id); if (element) element.textContent = value; };

  function show(progress) {
    box.hidden = false;
    box.dataset.taskId = progress.task_id;
    text("eval-title", progress.title);
    const bar = document.getElementById("eval-bar");
    bar.max = Math.max(progress.total || 1, 1); bar.value = progress.done || 0;
    text("eval-count", `${progress.done} von ${progress.total} Fällen`);
    const running = progress.status === "running";
    text("eval-remaining", progress.remaining || (running ? "" : "fertig"));
    text("eval-state", running ? "Laufende Evaluation" : progress.status === "done" ? "Evaluation abgeschlossen"
      : "Evaluation fehlgeschlagen");
    const twice = progress.total > progress.cases ? `Jeder der ${progress.cases} Fälle läuft zweimal: mit der geprüften `
      + "Version und zum Vergleich mit der Produktionsfassung. " : "";
    text("eval-note", running ? `${twice}Sie können diese Seite verlassen; die Evaluation läuft auf dem Server weiter.` : "");
    const start = document.querySelector("#eval-form button[type=submit]");
    if (start) start.disabled = running;
  }

  function finished(progress) {
    const result = document.getElementById("eval-result");
    result.hidden = false; result.textContent = "";
    const verdict = document.createElement("p");
    verdict.className = progress.passed ? "message ok" : "message error";
    verdict.textContent = progress.verdict || "";
    result.append(verdict);
    if (progress.report) {
      const link = document.createElement("a");
      link.href = progress.report; link.textContent = "Bericht öffnen"; link.target = "_blank"; link.rel = "noopener";
      result.append(link);
    }
  }

  function follow(taskId) {
    const tick = async () => {
      const progress = await api("GET", `/api/evaluations/tasks/${encodeURIComponent(taskId)}`);
      show(progress);
      if (progress.status === "running") { setTimeout(() => attempt(tick), 1000); return; }
      finished(progress);
    };
    attempt(tick);
  }

  if (box && box.dataset.taskId) follow(box.dataset.taskId);

  const forms = {
    "evaluation-start": async (form) => {
      const data = new FormData(form);
      const { task_id } = await api("POST", "/api/evaluations", { task: data.get("task"), prompt: data.get("prompt") });
      document.getElementById("eval-result").hidden = true;
      follow(task_id);
    },
    "replace-document": async (form) => {
      const source = form.dataset.source;
      const path = source.split("/").map(encodeURIComponent).join("/");
      const result = await api("PUT", `/api/documents/${path}`, new FormData(form));
      say(`${result.source} ersetzt – wird neu indexiert …`);
      waitForTask(result.task_id, () => { say("Neue Fassung indexiert."); setTimeout(() => location.reload(), 600); });
    },
  };

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action=promote-version]");
    if (!button) return;
    attempt(async () => {
      await api("POST", `/api/prompts/${button.dataset.task}/${button.dataset.version}/promote`);
      say(`${button.dataset.title} ist jetzt in Produktion.`);
      setTimeout(() => location.reload(), 800);
    });
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (forms[form.dataset.actionSubmit]) {
      event.preventDefault();
      attempt(() => forms[form.dataset.actionSubmit](form));
    }
  });
})();
