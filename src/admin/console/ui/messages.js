// The message browser: one page of records of one partition at a time (PAGE_RECORDS), from an offset, a time
// or the latest, so a partition of millions of records costs one bounded read per page. Bytes arrive as
// base64 and are shown as text, JSON or hex here; the search filters the page that is loaded.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";
import { api } from "./api.js";

const html = htm.bind(h);
const PAGE_RECORDS = 100;
/** Characters of a key, value or header shown before "more". */
const PREVIEW_CHARS = 240;

function decodeBase64(text) {
  if (text === null) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

export function renderBytes(bytes, view) {
  if (bytes === null) return "null";
  if (view === "hex") return Array.from(bytes.subarray(0, 4096), (byte) => byte.toString(16).padStart(2, "0")).join(" ") + (bytes.length > 4096 ? " …" : "");
  const text = utf8.decode(bytes);
  if (view === "json") {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  return text;
}

function Cell({ text, testId }) {
  const [open, setOpen] = useState(false);
  if (text.length <= PREVIEW_CHARS || open) return html`<pre class="cell" data-testid=${testId}>${text}</pre>`;
  return html`<pre class="cell" data-testid=${testId}>${text.slice(0, PREVIEW_CHARS)}<button class="link" onClick=${() => setOpen(true)}>… ${text.length - PREVIEW_CHARS} more</button></pre>`;
}

export function MessageBrowser({ topic }) {
  const [detail, setDetail] = useState(null);
  const [partition, setPartition] = useState(0);
  const [position, setPosition] = useState("offset");
  const [offsetInput, setOffsetInput] = useState("0");
  const [timeInput, setTimeInput] = useState("");
  const [view, setView] = useState("text");
  const [search, setSearch] = useState("");
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    api("GET", `/topics/${encodeURIComponent(topic)}`).then(setDetail, (failure) => setError(failure.message));
  }, [topic]);

  const load = async (query) => {
    setLoading(true);
    try {
      const result = await api("GET", `/topics/${encodeURIComponent(topic)}/partitions/${partition}/messages?format=base64&limit=${PAGE_RECORDS}${query}`);
      result.messages = result.messages.map((message) => ({
        ...message,
        key: decodeBase64(message.key),
        value: decodeBase64(message.value),
        headers: message.headers.map((header) => ({ key: header.key, value: decodeBase64(header.value) })),
      }));
      setPage(result);
      setError(null);
    } catch (failure) {
      setError(failure.message);
    }
    setLoading(false);
  };

  const submit = (event) => {
    event.preventDefault();
    if (position === "offset") load(`&offset=${Math.max(0, Number(offsetInput) || 0)}`);
    else if (position === "timestamp") load(`&timestamp=${new Date(timeInput).getTime()}`);
    else load("");
  };
  const first = page?.messages[0]?.offset;
  const last = page?.messages.at(-1)?.offset;
  const older = () => load(`&offset=${Math.max(page.logStartOffset, (first ?? page.highWatermark) - PAGE_RECORDS)}`);
  const newer = () => load(`&offset=${last === undefined ? page.highWatermark : last + 1}`);

  const needle = search.toLowerCase();
  const rows = (page?.messages ?? [])
    .map((message) => ({
      ...message,
      keyText: renderBytes(message.key, view),
      valueText: renderBytes(message.value, view),
      headerTexts: message.headers.map((header) => `${header.key}: ${renderBytes(header.value, view === "json" ? "text" : view)}`),
    }))
    .filter((row) => needle === "" || row.keyText.toLowerCase().includes(needle) || row.valueText.toLowerCase().includes(needle) || row.headerTexts.some((text) => text.toLowerCase().includes(needle)));

  return html`<section>
    <p class="crumbs"><a href="#/topics">Topics</a> / <a href=${`#/topics/${encodeURIComponent(topic)}`}>${topic}</a> / messages</p>
    <h1>Messages in ${topic}</h1>
    <form class="inline-form" onSubmit=${submit} data-testid="message-form">
      <label>Partition <select name="partition" value=${partition} onChange=${(e) => setPartition(Number(e.currentTarget.value))}>
        ${(detail?.partitions ?? [{ partition: 0 }]).map((p) => html`<option value=${p.partition}>${p.partition}</option>`)}
      </select></label>
      <select name="position" value=${position} onChange=${(e) => setPosition(e.currentTarget.value)}>
        <option value="offset">from offset</option><option value="timestamp">from time</option><option value="latest">latest</option>
      </select>
      ${position === "offset" ? html`<input name="offset" type="number" min="0" value=${offsetInput} onInput=${(e) => setOffsetInput(e.currentTarget.value)} />` : null}
      ${position === "timestamp" ? html`<input name="timestamp" type="datetime-local" step="1" required value=${timeInput} onInput=${(e) => setTimeInput(e.currentTarget.value)} />` : null}
      <button type="submit">Load</button>
      <label>Show as <select name="view" value=${view} onChange=${(e) => setView(e.currentTarget.value)}>
        <option value="text">text</option><option value="json">JSON</option><option value="hex">hex</option>
      </select></label>
      <input name="search" type="search" placeholder="search this page" value=${search} onInput=${(e) => setSearch(e.currentTarget.value)} />
    </form>
    <${ErrorNote} error=${error} />
    ${page &&
    html`<div class="toolbar">
        <button onClick=${older} disabled=${loading || (first ?? page.highWatermark) <= page.logStartOffset}>← Older</button>
        <span class="muted" data-testid="message-range">${first === undefined ? "no records here" : `offsets ${first}–${last}`} · log ${page.logStartOffset}–${page.highWatermark} · ${rows.length} shown</span>
        <button onClick=${newer} disabled=${loading || last === undefined || last + 1 >= page.highWatermark}>Newer →</button>
      </div>
      <table class="data messages" data-testid="message-table">
        <thead><tr><th class="num">Offset</th><th>Time</th><th>Key</th><th>Value</th><th>Headers</th></tr></thead>
        <tbody>${rows.map((row) => html`<tr data-testid="message-row" data-offset=${row.offset}>
          <td class="num">${row.offset}</td><td class="nowrap">${new Date(row.timestamp).toISOString().replace("T", " ").replace("Z", "")}</td>
          <td><${Cell} text=${row.keyText} testId="message-key" /></td>
          <td><${Cell} text=${row.valueText} testId="message-value" /></td>
          <td data-testid="message-headers">${row.headerTexts.map((text) => html`<div class="mono small">${text}</div>`)}</td>
        </tr>`)}</tbody>
      </table>`}
  </section>`;
}

const ErrorNote = ({ error }) => (error ? html`<p class="error" role="alert">${error}</p>` : null);
