// The pages of the service: ask (/), one document (/documents/{id}), the documents list.
// Plain DOM building with textContent only: no text from the API is ever parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  const key = localStorage.getItem("qa-key");
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const response = await fetch(path, opts);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  return body;
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function keyField() {
  const field = $("key");
  if (!field) return;
  field.value = localStorage.getItem("qa-key") || "";
  field.addEventListener("change", () => {
    if (field.value) localStorage.setItem("qa-key", field.value);
    else localStorage.removeItem("qa-key");
  });
}

function citationLink(citation, text) {
  const href = `${documentHref(citation.doc_id)}?start=${citation.char_start}&end=${citation.char_end}`;
  return el("a", { href, class: "citation" }, text);
}

// The passage with its best sentence marked (highlight offsets are document offsets).
function markedPassage(result) {
  const start = result.highlight.char_start - result.citation.char_start;
  const end = result.highlight.char_end - result.citation.char_start;
  const text = result.text;
  if (start < 0 || end > text.length || start >= end) return el("p", { class: "passage" }, text);
  return el("p", { class: "passage" },
    text.slice(0, start), el("mark", {}, text.slice(start, end)), text.slice(end));
}

function renderAnswer(data) {
  const box = $("answer");
  box.replaceChildren();
  const a = data.answer;
  if (!a) {
    const noQuestion = data.answer_note && !data.answer_note.startsWith("The articles");
    box.append(el("div", { class: "card answer none", id: "no-answer" },
      el("p", { class: "lead" }, noQuestion ? "Nothing to answer." : "The articles don't say."),
      el("p", { class: "meta" }, noQuestion ? data.answer_note : data.results.length
        ? "No passage answers this question with confidence. The closest passages are below."
        : "No passage matches this question.")));
    return;
  }
  const card = el("div", { class: "card answer", id: "answer-card" });
  if (a.translation) {
    card.append(el("p", { class: "lead", lang: a.translation.lang, id: "answer-translation" }, a.translation.text));
    card.append(el("p", { class: "original" }, "Original: ",
      el("q", { id: "answer-text" }, a.text)));
  } else {
    card.append(el("p", { class: "lead", lang: a.language, id: "answer-text" }, a.text));
    if (a.translation_note) {
      card.append(el("p", { class: "original", id: "answer-language" }, a.translation_note));
    }
  }
  const meter = el("meter", { min: "0", max: "1", value: String(a.confidence), "aria-label": "confidence" });
  card.append(el("p", { class: "meta" },
    citationLink(a.citation, a.citation.title || a.citation.doc_id),
    el("span", {}, pagesLabel(a.citation) + `characters ${a.citation.char_start}–${a.citation.char_end}`),
    el("span", { class: "confidence" }, "confidence ", meter, ` ${Math.round(a.confidence * 100)}%`)));
  box.append(card);
}

// Passages grouped under their document (first seen, best first), each with its place in
// the document; the retrieval scores, which mean little to a reader, behind a toggle.
function renderResults(data) {
  const box = $("results");
  box.replaceChildren();
  if (!data.results.length) return;
  box.append(el("h2", {}, data.answer ? "Passages" : "Closest passages",
    el("span", { class: "meta inline" }, ` question language: ${data.language}`)));
  const groups = new Map();
  for (const r of data.results) {
    const id = r.citation.doc_id;
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(r);
  }
  for (const [docId, results] of groups) {
    const c = results[0].citation;
    const list = el("ol", { class: "results" });
    for (const r of results) {
      list.append(el("li", { class: "result" },
        el("p", { class: "meta" },
          citationLink(r.citation, `#${r.rank} · ${pagesLabel(r.citation)}characters ${r.citation.char_start}–${r.citation.char_end}`),
          el("details", { class: "score" }, el("summary", {}, "score"),
            ` ${r.score.toFixed(3)}: the ranking's score (higher first), not a probability`)),
        markedPassage(r)));
    }
    box.append(el("section", { class: "card doc-group", "data-doc": docId },
      el("h3", {}, el("a", { href: documentHref(docId) }, c.title || docId)),
      el("p", { class: "meta" }, el("span", {}, c.source || docId),
        el("span", {}, results.length === 1 ? "1 passage" : `${results.length} passages`)),
      list));
  }
}

function pagesLabel(citation) {
  const pages = citation.pages;
  if (!pages || !pages.length) return "";
  return pages.length === 1 ? `page ${pages[0]}, ` : `pages ${pages[0]}–${pages[pages.length - 1]}, `;
}

function documentHref(docId) {
  return `/documents/${docId.split("/").map(encodeURIComponent).join("/")}`;
}

// A question drawn from a title: its first clause, asked.
function exampleQuestion(title) {
  const clause = title.split(/[;:|\u2013\u2014]| - /)[0].trim();
  const words = (clause.length >= 12 ? clause : title).split(/\s+/).slice(0, 14).join(" ");
  return words.replace(/[.!?,]+$/, "") + "?";
}

// The empty home page: what the collection holds, and questions to start from.
async function showCollection() {
  const box = $("collection");
  if (!box) return;
  let data;
  try { data = await api("/documents"); } catch (e) { return; }  // a key may be needed
  const docs = data.documents;
  if (!docs.length) {
    box.replaceChildren(el("p", {}, "No documents yet: ",
      el("a", { href: "/documents" }, "add some"), "."));
    return;
  }
  const titles = el("ul", { class: "titles" });
  for (const d of docs.slice(0, 5)) {
    titles.append(el("li", {}, el("a", { href: documentHref(d.doc_id) }, d.title || d.doc_id)));
  }
  const examples = el("ul", { class: "examples" });
  for (const d of docs.slice(0, 3)) {
    const question = exampleQuestion(d.title || d.doc_id);
    examples.append(el("li", {}, el("a", { href: `/?q=${encodeURIComponent(question)}` }, question)));
  }
  box.replaceChildren(
    el("p", {}, `The collection holds ${docs.length} ${docs.length === 1 ? "document" : "documents"}`,
      docs.length > 5 ? "; the first five:" : ":"),
    titles,
    el("p", {}, "Ask in any language. To start, a question from each of the first titles:"),
    examples);
  box.hidden = false;
}

async function ask(question) {
  $("collection").hidden = true;
  $("answer").replaceChildren();
  $("results").replaceChildren();
  setStatus("Searching…");
  try {
    const data = await api("/query", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, top_k: 5 }),
    });
    renderAnswer(data);
    renderResults(data);
    setStatus(`${data.results.length} passages in ${Math.round(data.took_ms)} ms`);
    document.title = `${question} — Ask the articles`;
  } catch (e) {
    setStatus(e.message, true);
  }
}

function askPage() {
  const form = $("ask");
  const input = $("q");
  const fromUrl = () => new URLSearchParams(location.search).get("q") || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    const url = `/?q=${encodeURIComponent(question)}`;
    if (fromUrl() !== question) history.pushState({}, "", url);
    ask(question);
  });
  window.addEventListener("popstate", () => {
    input.value = fromUrl();
    if (input.value) ask(input.value);
  });
  input.value = fromUrl();
  if (input.value) ask(input.value);
  else { input.focus(); showCollection(); }
}

// The document's text with a marker where each page starts (empty elements: the text's
// characters, and so the citations' offsets, stay exactly the document's) and the cited
// span marked — in pieces when it crosses pages, the first piece focusable.
function documentNodes(text, pages, span) {
  const cuts = new Set([0, text.length, ...pages.filter((p) => p > 0 && p < text.length)]);
  if (span) { cuts.add(span[0]); cuts.add(span[1]); }
  const points = [...cuts].sort((a, b) => a - b);
  const startsAt = new Map();  // offset -> the pages that start there (empty pages share)
  if (pages.length > 1) pages.forEach((p, n) => startsAt.set(p, [...(startsAt.get(p) || []), n + 1]));
  const nodes = [];
  let first = true;
  for (let i = 0; i + 1 < points.length; i++) {
    const [from, to] = [points[i], points[i + 1]];
    for (const n of startsAt.get(from) || []) {
      nodes.push(el("span", { class: "page-start", "data-page": String(n) }));
    }
    const piece = text.slice(from, to);
    if (span && from >= span[0] && to <= span[1]) {
      nodes.push(el("mark", first ? { id: "cited", tabindex: "-1" } : { class: "cited" }, piece));
      first = false;
    } else {
      nodes.push(piece);
    }
  }
  return nodes;
}

async function documentPage() {
  const docId = decodeURIComponent(location.pathname.replace(/^\/documents\//, ""));
  const params = new URLSearchParams(location.search);
  try {
    const doc = await api(documentHref(docId));
    $("title").textContent = doc.title || doc.doc_id;
    document.title = doc.title || doc.doc_id;
    $("meta").replaceChildren(
      el("span", {}, doc.source || doc.doc_id),
      el("span", {}, doc.published || ""),
      el("span", {}, `${doc.characters} characters, ${doc.chunks} passages`),
      doc.pages && doc.pages.length > 1 ? el("span", {}, `${doc.pages.length} pages`) : null);
    const text = doc.text;
    const start = Number(params.get("start"));
    const end = Number(params.get("end"));
    const box = $("text");
    const cited = params.has("start") && Number.isInteger(start) && Number.isInteger(end) &&
      start >= 0 && end <= text.length && start < end;
    box.replaceChildren(...documentNodes(text, doc.pages || [], cited ? [start, end] : null));
    const mark = $("cited");
    if (mark) {
      mark.scrollIntoView({ block: "center" });
      mark.focus({ preventScroll: true });
    }
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function loadDocuments() {
  const rows = $("rows");
  const data = await api("/documents");
  rows.replaceChildren();
  for (const d of data.documents) {
    const remove = el("button", { class: "danger", type: "button", "aria-label": `Delete ${d.title || d.doc_id}` }, "Delete");
    remove.addEventListener("click", async () => {
      if (!confirm(`Delete “${d.title || d.doc_id}”?`)) return;
      try {
        await api(documentHref(d.doc_id), { method: "DELETE" });
        setStatus(`Deleted ${d.doc_id}`);
        await loadDocuments();
      } catch (e) { setStatus(e.message, true); }
    });
    rows.append(el("tr", { "data-id": d.doc_id },
      el("td", { class: "title" }, el("a", { href: documentHref(d.doc_id) }, d.title || d.doc_id)),
      el("td", { class: "id" }, d.doc_id),
      el("td", {}, String(d.chunks)),
      el("td", {}, remove)));
  }
  if (!data.documents.length) rows.append(el("tr", {}, el("td", { colspan: "4" }, "No documents yet.")));
}

const FILES_PER_UPLOAD = 100; // the most one request may carry

// The files chosen, each with the name it is sent under: a folder's files keep their path
// inside it (as `qa add folder/` names them); hidden and unreadable ones are left out.
function chosenFiles() {
  const readable = $("file").accept.split(",");
  const picked = Array.from($("file").files).map((file) => [file, file.name]);
  const left = [];
  for (const file of Array.from($("folder").files)) {
    const inside = (file.webkitRelativePath || file.name).split("/").slice(1).join("/") || file.name;
    const hidden = inside.split("/").some((part) => part.startsWith("."));
    const known = readable.some((suffix) => file.name.toLowerCase().endsWith(suffix));
    if (!hidden && known) picked.push([file, inside]);
    else if (!hidden) left.push(inside);
  }
  return { picked, left };
}

function documentsPage() {
  const form = $("upload");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { picked, left } = chosenFiles();
    const skipped = left.length ? ` Left out (not a readable type): ${left.join(", ")}` : "";
    if (!picked.length) {
      setStatus(`Choose files or a folder to upload.${skipped}`, true);
      return;
    }
    const added = [];
    try {
      for (let start = 0; start < picked.length; start += FILES_PER_UPLOAD) {
        const part = picked.slice(start, start + FILES_PER_UPLOAD);
        const body = new FormData();
        for (const [file, name] of part) body.append("file", file, name);
        setStatus(picked.length === 1 ? `Uploading ${picked[0][1]}…`
          : `Uploading ${start + part.length} of ${picked.length} files…`);
        const data = await api("/documents/upload", { method: "POST", body });
        added.push(...data.documents.map((d) => `${d.doc_id} (${d.status})`));
      }
      setStatus(`Uploaded: ${added.join(", ")}.${skipped}`);
      form.reset();
    } catch (e) {
      const done = added.length ? ` (uploaded before it: ${added.join(", ")})` : "";
      setStatus(`${e.message}${done}`, true);
    }
    await loadDocuments().catch((e) => setStatus(e.message, true));
  });
  loadDocuments().catch((e) => setStatus(e.message, true));
}

document.addEventListener("DOMContentLoaded", () => {
  keyField();
  const page = document.body.dataset.page;
  if (page === "ask") askPage();
  else if (page === "document") documentPage();
  else if (page === "documents") documentsPage();
});
