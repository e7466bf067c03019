"use strict";
// The sidebar of past conversations: GET/DELETE /chat_history/sessions (reopen, continue, delete).
// Loaded before the page script; it uses that script's globals ($, el, state, headers, renderAnswer,
// appendMeta, emptyState) only from its handlers, which run after the page script has started.
(() => {
  const PAGE = 50;
  let shown = [];

  const enabled = () => Boolean(state.config && state.config.features && state.config.features.history)
    && !$("#ask").hidden;

  async function call(path, method = "GET") {
    const response = await fetch(path, { method, headers: await headers() });
    if (!response.ok && response.status !== 404) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(problem.detail || `history request failed (${response.status})`);
    }
    return response;
  }

  function render() {
    const list = $("#sessionList");
    const items = shown.map((s) => {
      const open = el("button", { className: "open-session", type: "button", textContent: s.title || "Untitled",
                                  title: `${s.title}\n${new Date(s.timestamp).toLocaleString()}` });
      open.addEventListener("click", () => reopen(s.id).catch(report));
      const remove = el("button", { className: "delete-session", type: "button", textContent: "×",
                                    title: "Delete this conversation" });
      remove.setAttribute("aria-label", `Delete conversation: ${s.title}`);
      remove.addEventListener("click", () => removeOne(s.id).catch(report));
      const item = el("li", { className: s.id === state.sessionId ? "current" : "" }, open, remove);
      item.dataset.session = s.id;
      return item;
    });
    list.replaceChildren(...items);
    if (!items.length) list.append(el("li", { className: "none", textContent: "No conversations yet." }));
    $("#deleteAll").hidden = !items.length;
  }

  async function refresh() {
    const nav = $("#sessions");
    nav.hidden = !enabled();
    if (nav.hidden) return;
    const response = await call(`/chat_history/sessions?count=${PAGE}`);
    shown = response.ok ? (await response.json()).sessions : [];
    render();
  }

  // The turn is written just after its answer ended: if it is not listed yet, ask once more shortly.
  async function refreshAfterTurn() {
    await refresh();
    if (state.sessionId && !shown.some((s) => s.id === state.sessionId)) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      await refresh();
    }
  }

  async function reopen(id) {
    if (state.busy) return;
    const response = await call(`/chat_history/sessions/${encodeURIComponent(id)}`);
    if (!response.ok) { await refresh(); return; }
    const session = await response.json();
    state.history = []; state.sessionId = session.id;
    $("#panel").classList.remove("open");
    const transcript = $("#transcript");
    transcript.replaceChildren();
    for (const turn of session.answers) {
      transcript.append(el("div", { className: "turn user" }, el("div", { className: "bubble", textContent: turn.question })));
      const bubble = el("div", { className: "bubble" });
      const box = el("div", { className: "turn assistant" }, bubble);
      renderAnswer(bubble, turn.answer, turn.sources);
      appendMeta(box, turn.answer, turn.sources, []);
      transcript.append(box);
      document.dispatchEvent(new CustomEvent("chatfleet:answer-shown",
                                              { detail: { box, turnId: turn.turn_id, rating: turn.rating } }));
      state.history.push({ role: "user", content: turn.question }, { role: "assistant", content: turn.answer });
    }
    transcript.scrollTop = transcript.scrollHeight;
    render();
    $("#question").focus();
  }

  async function removeOne(id) {
    if (state.busy) return;
    await call(`/chat_history/sessions/${encodeURIComponent(id)}`, "DELETE");
    if (id === state.sessionId) { state.history = []; state.sessionId = null; emptyState(); }
    await refresh();
  }

  async function removeAll() {
    if (state.busy || !window.confirm("Delete all your conversations? This cannot be undone.")) return;
    await call("/chat_history/sessions", "DELETE");
    state.history = []; state.sessionId = null; emptyState();
    await refresh();
  }

  function report(err) {
    console.error(err);
    $("#transcript").append(el("div", { className: "error", role: "alert", textContent: err.message || String(err) }));
  }

  document.addEventListener("chatfleet:owner-changed", () => refresh().catch(report));
  document.addEventListener("chatfleet:turn-ended", () => refreshAfterTurn().catch(report));
  document.addEventListener("chatfleet:new-chat", render);
  document.addEventListener("DOMContentLoaded", () => $("#deleteAll").addEventListener("click", () => removeAll().catch(report)));
})();
