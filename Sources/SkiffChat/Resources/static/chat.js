// Skiff Chat: the page's behaviour. Plain JavaScript, no dependencies, no build step.
// Markdown is turned into DOM nodes with createElement/textContent only (never innerHTML), so neither
// model output nor user text can inject markup or script.
"use strict";

// ---------- Markdown ----------

const Markdown = (() => {
  const SAFE_URL = /^(https?:|mailto:)/i;

  function el(tag, cls) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    return node;
  }

  // Inline: `code`, **strong**, *em* / _em_, ~~del~~, [text](url), bare https:// links.
  function inline(text, parent) {
    const pattern = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([\s\S]+?)\*\*|__([\s\S]+?)__|\*([^*\s](?:[\s\S]*?[^*\s])?)\*|\b_([^_\s](?:[\s\S]*?[^_\s])?)_\b|~~([\s\S]+?)~~|\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;
    let rest = text;
    while (rest.length > 0) {
      const match = pattern.exec(rest);
      if (!match) { parent.appendChild(document.createTextNode(rest)); break; }
      if (match.index > 0) parent.appendChild(document.createTextNode(rest.slice(0, match.index)));
      if (match[2] !== undefined) {
        const code = el("code"); code.textContent = match[2].replace(/^ (.*) $/, "$1"); parent.appendChild(code);
      } else if (match[3] !== undefined || match[4] !== undefined) {
        const strong = el("strong"); inline(match[3] ?? match[4], strong); parent.appendChild(strong);
      } else if (match[5] !== undefined || match[6] !== undefined) {
        const em = el("em"); inline(match[5] ?? match[6], em); parent.appendChild(em);
      } else if (match[7] !== undefined) {
        const del = el("del"); inline(match[7], del); parent.appendChild(del);
      } else if (match[8] !== undefined) {
        parent.appendChild(link(match[9], match[8]));
      } else if (match[10] !== undefined) {
        parent.appendChild(link(match[10], match[10]));
      }
      rest = rest.slice(match.index + match[0].length);
    }
  }

  function link(url, label) {
    if (!SAFE_URL.test(url)) {
      const span = el("span"); span.textContent = label; return span;
    }
    const a = el("a");
    a.href = url;
    a.rel = "noopener noreferrer nofollow";
    a.target = "_blank";
    inline(label, a);
    return a;
  }

  function codeBlock(language, code) {
    const figure = el("div", "code-block");
    const bar = el("div", "code-bar");
    const label = el("span", "code-language"); label.textContent = language || "code";
    const copy = el("button", "copy"); copy.type = "button"; copy.textContent = "Copy";
    copy.setAttribute("aria-label", "Copy code");
    copy.addEventListener("click", () => {
      navigator.clipboard?.writeText(code).then(() => {
        copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 1500);
      }, () => { copy.textContent = "Copy failed"; });
    });
    bar.append(label, copy);
    const pre = el("pre"); const codeNode = el("code"); codeNode.textContent = code; pre.appendChild(codeNode);
    figure.append(bar, pre);
    return figure;
  }

  function splitRow(line) {
    let row = line.trim();
    if (row.startsWith("|")) row = row.slice(1);
    if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
    return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
  }

  const isTableDivider = (line) => /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(line);
  const listItem = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;

  function render(text) {
    const root = document.createDocumentFragment();
    const lines = text.replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(line);
      if (fence) {
        const body = [];
        i += 1;
        while (i < lines.length && !lines[i].trim().startsWith(fence[1])) { body.push(lines[i]); i += 1; }
        i += 1; // the closing fence, or the end of a still-streaming block
        root.appendChild(codeBlock(fence[2], body.join("\n")));
        continue;
      }
      if (/^\s*$/.test(line)) { i += 1; continue; }
      const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      if (heading) {
        const h = el("h" + Math.min(6, heading[1].length + 1)); inline(heading[2], h); root.appendChild(h);
        i += 1; continue;
      }
      if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { root.appendChild(el("hr")); i += 1; continue; }
      if (line.includes("|") && i + 1 < lines.length && isTableDivider(lines[i + 1])) {
        const table = el("table"); const thead = el("thead"); const headRow = el("tr");
        for (const cell of splitRow(line)) { const th = el("th"); th.scope = "col"; inline(cell, th); headRow.appendChild(th); }
        thead.appendChild(headRow); table.appendChild(thead);
        const tbody = el("tbody");
        i += 2;
        while (i < lines.length && lines[i].includes("|") && lines[i].trim() !== "") {
          const tr = el("tr");
          for (const cell of splitRow(lines[i])) { const td = el("td"); inline(cell, td); tr.appendChild(td); }
          tbody.appendChild(tr); i += 1;
        }
        table.appendChild(tbody);
        const wrap = el("div", "table-wrap"); wrap.appendChild(table); root.appendChild(wrap);
        continue;
      }
      if (/^\s*>/.test(line)) {
        const quoted = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) { quoted.push(lines[i].replace(/^\s*>\s?/, "")); i += 1; }
        const blockquote = el("blockquote"); blockquote.appendChild(render(quoted.join("\n"))); root.appendChild(blockquote);
        continue;
      }
      if (listItem.test(line)) {
        i = renderList(lines, i, root);
        continue;
      }
      const paragraph = [];
      while (i < lines.length && lines[i].trim() !== "" && !/^\s*(`{3,}|~{3,}|#{1,6}\s|>)/.test(lines[i]) && !listItem.test(lines[i])) {
        paragraph.push(lines[i].trim()); i += 1;
      }
      const p = el("p");
      paragraph.forEach((part, index) => { if (index > 0) p.appendChild(el("br")); inline(part, p); });
      root.appendChild(p);
    }
    return root;
  }

  function renderList(lines, start, parent) {
    const first = listItem.exec(lines[start]);
    const indent = first[1].length;
    const ordered = /\d/.test(first[2]);
    const list = el(ordered ? "ol" : "ul");
    if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
    let i = start;
    while (i < lines.length) {
      const match = listItem.exec(lines[i]);
      if (!match || match[1].length < indent) break;
      if (match[1].length > indent) {
        const last = list.lastElementChild || list.appendChild(el("li"));
        i = renderList(lines, i, last);
        continue;
      }
      if (/\d/.test(match[2]) !== ordered) break;
      const li = el("li"); inline(match[3], li); list.appendChild(li);
      i += 1;
      while (i < lines.length && lines[i].trim() !== "" && !listItem.test(lines[i]) && /^\s+/.test(lines[i])) {
        li.appendChild(document.createTextNode(" ")); inline(lines[i].trim(), li); i += 1;
      }
      if (i < lines.length && lines[i].trim() === "" && i + 1 < lines.length && listItem.test(lines[i + 1])) i += 1;
    }
    parent.appendChild(list);
    return i;
  }

  return { render };
})();

// ---------- Chat ----------

(() => {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  const chat = $("chat");
  if (!chat) return;
  const messages = $("messages");
  const form = $("composer");
  const input = $("composer-input");
  const sendButton = $("send-button");
  const stopButton = $("stop-button");
  const modeLabel = $("composer-mode");
  const announcer = $("announcer");
  let conversationId = chat.dataset.conversationId || "";
  let controller = null;
  let editing = false;

  function renderMarkdown(node, text) {
    node.replaceChildren(Markdown.render(text));
  }

  for (const node of document.querySelectorAll("[data-markdown]")) {
    const text = node.textContent;
    node.dataset.source = text;
    renderMarkdown(node, text);
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    return response.status === 204 ? null : response.json();
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body?.error?.message) return body.error.message;
    } catch (_) { /* not JSON */ }
    return `The chat server answered ${response.status}.`;
  }

  function messageNode(role, text, state) {
    const li = document.createElement("li");
    li.className = `message ${role} state-${state}`;
    li.dataset.role = role;
    const who = document.createElement("div"); who.className = "who"; who.textContent = role === "user" ? "You" : "Assistant";
    const content = document.createElement("div"); content.className = "content"; content.dataset.source = text;
    renderMarkdown(content, text);
    li.append(who, content);
    messages.appendChild(li);
    return li;
  }

  function setNote(li, cls, text) {
    let note = li.querySelector("." + cls);
    if (!note) { note = document.createElement("p"); note.className = cls; li.appendChild(note); }
    note.textContent = text;
  }

  // The same words as the server's stats line (PageRoutes.statsLine).
  function omittedText(count) {
    return `${count} earlier message${count === 1 ? "" : "s"} left out to fit the model's context`;
  }

  function statsLine(stats) {
    const parts = [];
    if (stats.ttftMs != null) parts.push(`first token ${Math.round(stats.ttftMs)} ms`);
    if (stats.completionTokens > 1 && stats.durationMs != null) {
      const seconds = (stats.durationMs - (stats.ttftMs ?? 0)) / 1000;
      if (seconds > 0) parts.push(`${((stats.completionTokens - 1) / seconds).toFixed(1)} tok/s`);
    }
    if (stats.promptTokens != null && stats.completionTokens != null) {
      parts.push(`${stats.promptTokens} prompt + ${stats.completionTokens} answer tokens`);
    }
    if (stats.omittedMessages > 0) parts.push(omittedText(stats.omittedMessages));
    return parts.join(" · ");
  }

  function setBusy(busy) {
    sendButton.hidden = busy;
    stopButton.hidden = !busy;
    input.setAttribute("aria-busy", busy ? "true" : "false");
    if (!busy) input.focus();
  }

  function scrollToEnd() {
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
    if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
  }

  // Reads the server's event stream and renders the answer into `answer` as it arrives.
  async function streamAnswer(url, body, answer, userNode) {
    controller = new AbortController();
    setBusy(true);
    announcer.textContent = "Generating an answer…";
    const content = answer.querySelector(".content");
    let text = "";
    let frame = 0;
    const paint = () => { frame = 0; renderMarkdown(content, text); scrollToEnd(); };
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "text/event-stream" },
        body: JSON.stringify(body),
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) {
        const message = await errorMessage(response);
        answer.classList.replace("state-streaming", "state-failed");
        setNote(answer, "notice", message);
        announcer.textContent = message;
        if (response.status === 429 && userNode) userNode.remove();
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let ended = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let boundary;
        while ((boundary = buffer.indexOf("\n\n")) >= 0) {
          const raw = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const data = raw.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart()).join("\n");
          if (!data) continue;
          const event = JSON.parse(data);
          if (event.type === "start") {
            answer.dataset.id = event.answerId;
            answer.dataset.sequence = event.answerSequence;
            if (userNode && event.userMessageId) { userNode.dataset.id = event.userMessageId; userNode.dataset.sequence = event.userMessageSequence; }
          } else if (event.type === "context") {
            setNote(answer, "stats", omittedText(event.omittedMessages));
          } else if (event.type === "delta") {
            text += event.text;
            if (!frame) frame = requestAnimationFrame(paint);
          } else if (event.type === "done") {
            ended = true;
            answer.classList.replace("state-streaming", "state-complete");
            const line = statsLine(event.stats || {});
            if (line) setNote(answer, "stats", line);
            announcer.textContent = text;
          } else if (event.type === "error") {
            ended = true;
            answer.classList.replace("state-streaming", "state-" + event.state);
            setNote(answer, "notice", event.message);
            announcer.textContent = event.message;
          }
        }
      }
      if (!ended) {
        answer.classList.replace("state-streaming", "state-interrupted");
        setNote(answer, "notice", "The answer was cut off: the connection to the chat server broke. What arrived is kept.");
      }
    } catch (error) {
      if (error.name === "AbortError") {
        answer.classList.replace("state-streaming", "state-stopped");
        setNote(answer, "notice", "Stopped.");
        announcer.textContent = "Stopped.";
      } else {
        answer.classList.replace("state-streaming", "state-interrupted");
        setNote(answer, "notice", "The chat server can't be reached. What arrived is kept; reload to see what was saved.");
      }
    } finally {
      if (frame) cancelAnimationFrame(frame);
      renderMarkdown(content, text);
      content.dataset.source = text;
      controller = null;
      setBusy(false);
      refreshActions();
    }
  }

  async function ensureConversation() {
    if (conversationId) return conversationId;
    const created = await api("POST", "/api/conversations", settingsBody());
    conversationId = created.id;
    chat.dataset.conversationId = conversationId;
    history.replaceState(null, "", created.url);
    return conversationId;
  }

  async function send(text) {
    try {
      await ensureConversation();
    } catch (error) {
      modeLabel.textContent = error.message;
      return;
    }
    const wasEditing = editing;
    if (wasEditing) {
      // Edit and resend: the last question and everything after it are replaced.
      const nodes = [...messages.children];
      const lastUser = nodes.filter((node) => node.dataset.role === "user").pop();
      if (lastUser) nodes.slice(nodes.indexOf(lastUser)).forEach((node) => node.remove());
      setEditing(false);
    }
    const userNode = messageNode("user", text, "complete");
    const answer = messageNode("assistant", "", "streaming");
    window.scrollTo(0, document.body.scrollHeight);
    const url = `/api/conversations/${conversationId}/${wasEditing ? "edit" : "messages"}`;
    await streamAnswer(url, { content: text }, answer, userNode);
    refreshSidebar();
  }

  async function regenerate() {
    const nodes = [...messages.children];
    const last = nodes[nodes.length - 1];
    if (last && last.dataset.role === "assistant") last.remove();
    const answer = messageNode("assistant", "", "streaming");
    await streamAnswer(`/api/conversations/${conversationId}/regenerate`, {}, answer, null);
  }

  function setEditing(on) {
    editing = on;
    modeLabel.textContent = on ? "Editing your last message: Send replaces it and its answer (Escape cancels)." : "";
  }

  // Regenerate under the last answer, Edit under the last question.
  function refreshActions() {
    for (const node of messages.querySelectorAll(".message-actions")) node.remove();
    if (controller) return;
    const nodes = [...messages.children];
    const lastAnswer = nodes[nodes.length - 1];
    if (lastAnswer && lastAnswer.dataset.role === "assistant") {
      const bar = document.createElement("div"); bar.className = "message-actions";
      const button = document.createElement("button"); button.type = "button"; button.textContent = "Regenerate";
      button.addEventListener("click", regenerate);
      bar.appendChild(button); lastAnswer.appendChild(bar);
    }
    const lastUser = nodes.filter((node) => node.dataset.role === "user").pop();
    if (lastUser) {
      const bar = document.createElement("div"); bar.className = "message-actions";
      const button = document.createElement("button"); button.type = "button"; button.textContent = "Edit";
      button.addEventListener("click", () => {
        input.value = lastUser.querySelector(".content").dataset.source ?? "";
        setEditing(true);
        input.focus();
      });
      bar.appendChild(button); lastUser.appendChild(bar);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = "";
    send(text);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape" && editing) {
      setEditing(false);
      input.value = "";
    }
  });

  stopButton.addEventListener("click", () => controller?.abort());

  // ---------- Sidebar ----------

  const list = $("conversation-list");
  const search = $("search-input");

  function fillSidebar(conversations) {
    const items = conversations.map((conversation) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = conversation.url;
      a.textContent = conversation.title;
      if (conversation.id === conversationId) a.setAttribute("aria-current", "page");
      li.appendChild(a);
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement("li"); li.className = "empty";
      li.textContent = search.value ? "Nothing found." : "No conversations yet.";
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  async function refreshSidebar() {
    try {
      const query = search.value.trim();
      const result = await api("GET", "/api/conversations" + (query ? "?q=" + encodeURIComponent(query) : ""));
      fillSidebar(result.conversations);
      const current = result.conversations.find((conversation) => conversation.id === conversationId);
      if (current) { $("conversation-title").textContent = current.title; document.title = current.title + " · Skiff Chat"; }
    } catch (_) { /* keep the list as it is */ }
  }

  let searchTimer = 0;
  search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(refreshSidebar, 200); });
  search.form.addEventListener("submit", (event) => { event.preventDefault(); refreshSidebar(); });

  $("rename-button")?.addEventListener("click", async () => {
    const title = prompt("New title", $("conversation-title").textContent);
    if (!title || !title.trim()) return;
    try {
      await api("PATCH", `/api/conversations/${conversationId}`, { title: title.trim() });
      refreshSidebar();
    } catch (error) { alert(error.message); }
  });

  $("delete-button")?.addEventListener("click", async () => {
    if (!confirm("Delete this conversation? This cannot be undone.")) return;
    try {
      await api("DELETE", `/api/conversations/${conversationId}`);
      location.href = "/";
    } catch (error) { alert(error.message); }
  });

  // ---------- Settings ----------

  const modelSelect = $("setting-model");
  const systemPrompt = $("setting-system");
  const temperature = $("setting-temperature");
  const maxTokens = $("setting-max-tokens");
  const settingsStatus = $("settings-status");

  function settingsBody() {
    // An empty field is null: the setting goes back to the model service's default, and no request names it.
    return {
      model: modelSelect.value, systemPrompt: systemPrompt.value,
      temperature: temperature.value === "" ? null : Number(temperature.value),
      maxTokens: maxTokens.value === "" ? null : Number(maxTokens.value),
    };
  }

  async function saveSettings() {
    if (!conversationId) { settingsStatus.textContent = "Applies to the conversation you start."; return; }
    try {
      await api("PATCH", `/api/conversations/${conversationId}`, settingsBody());
      settingsStatus.textContent = "Saved.";
    } catch (error) { settingsStatus.textContent = error.message; }
  }

  for (const control of [modelSelect, systemPrompt, temperature, maxTokens]) control.addEventListener("change", saveSettings);

  api("GET", "/api/models").then((result) => {
    const chosen = modelSelect.dataset.value;
    for (const id of result.models) {
      const option = document.createElement("option"); option.value = id; option.textContent = id;
      if (id === chosen) option.selected = true;
      modelSelect.appendChild(option);
    }
    if (result.error) settingsStatus.textContent = result.error;
  }).catch(() => {});

  refreshActions();
  if (!controller) input.focus();
})();
