"use strict";
// Thumbs up/down (and an optional comment) under each answer: POST /chat/feedback with the answer's turn_id.
// Loaded before the page script; it uses that script's globals ($, el, headers) only from its handlers. The
// page (and the history sidebar, for reopened answers) announce each answer with "chatfleet:answer-shown".
(() => {
  async function send(turnId, rating, comment) {
    const response = await fetch("/chat/feedback", {
      method: "POST", headers: await headers(),
      body: JSON.stringify({ turn_id: turnId, rating, comment: comment || null }),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(problem.detail || `feedback failed (${response.status})`);
    }
  }

  function bar(turnId, rated) {
    const box = el("div", { className: "feedback" });
    const status = el("span", { className: "feedback-status", role: "status" });
    const comment = el("input", { className: "feedback-comment", type: "text", maxLength: 2000,
                                  placeholder: "What was wrong or missing? (optional)" });
    comment.setAttribute("aria-label", "Feedback comment");
    const sendComment = el("button", { className: "link", type: "button", textContent: "Send comment" });
    comment.hidden = sendComment.hidden = true;
    let rating = rated;
    const buttons = {};
    const mark = () => {
      for (const [name, b] of Object.entries(buttons)) b.setAttribute("aria-pressed", String(name === rating));
    };
    const rate = async (value, text) => {
      try {
        await send(turnId, value, text);
        rating = value; mark();
        status.textContent = text ? "Thanks for the comment." : "Thanks for the feedback.";
        comment.hidden = sendComment.hidden = Boolean(text) || value !== "down";
      } catch (err) {
        status.textContent = err.message || String(err);
      }
    };
    for (const [value, label, symbol] of [["up", "Good answer", "👍"], ["down", "Bad answer", "👎"]]) {
      const b = el("button", { className: `rate rate-${value}`, type: "button", textContent: symbol, title: label });
      b.setAttribute("aria-label", label);
      b.addEventListener("click", () => rate(value, null));
      buttons[value] = b;
      box.append(b);
    }
    sendComment.addEventListener("click", () => { if (comment.value.trim()) rate(rating || "down", comment.value.trim()); });
    comment.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); sendComment.click(); } });
    mark();
    box.append(comment, sendComment, status);
    return box;
  }

  document.addEventListener("chatfleet:answer-shown", (e) => {
    const { box, turnId, rating } = e.detail || {};
    if (box && typeof turnId === "string" && turnId) box.append(bar(turnId, rating || null));
  });
})();
