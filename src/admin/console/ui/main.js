// The Bunka console: one page with hash routes (#/overview, #/topics, #/topics/NAME, #/topics/NAME/messages,
// #/groups, #/groups/ID, #/live) over the admin listener's JSON API and /metrics. Preact + htm: no build
// step for templates, ~5 KB of runtime; uPlot draws the charts.
import { h, render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import htm from "htm";
import { api, consoleSession, session, UnauthorizedError } from "./api.js";
import { LineChart } from "./chart.js";
import { liveStats } from "./live-stats.js";
import { MessageBrowser } from "./messages.js";
import { bytes, count, rate } from "./format.js";

const html = htm.bind(h);

function useRoute() {
  const [hash, setHash] = useState(location.hash || "#/overview");
  useEffect(() => {
    const changed = () => setHash(location.hash || "#/overview");
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash.slice(2).split("/").map(decodeURIComponent);
}

/** Loads with `load` and again every `refreshMs` (0: once); a 401 sends the page to the login. */
function usePolled(load, dependencies, refreshMs = 0) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const reload = useCallback(async () => {
    try {
      setState({ data: await load(), error: null, loading: false });
    } catch (error) {
      if (error instanceof UnauthorizedError) dispatchEvent(new Event("bunka:unauthorized"));
      setState((previous) => ({ data: previous.data, error: error.message, loading: false }));
    }
  }, dependencies);
  useEffect(() => {
    reload();
    if (refreshMs <= 0) return undefined;
    // A tab in the background does not poll the broker.
    const timer = setInterval(() => document.hidden || reload(), refreshMs);
    return () => clearInterval(timer);
  }, [reload]);
  return { ...state, reload };
}

function useLiveStats() {
  const [, setVersion] = useState(0);
  useEffect(() => liveStats.subscribe(() => setVersion((version) => version + 1)), []);
  return liveStats;
}

const ErrorNote = ({ error }) => (error ? html`<p class="error" role="alert">${error}</p>` : null);

function Stat({ label, value, tone, testId }) {
  return html`<div class=${`stat ${tone ?? ""}`} data-testid=${testId}><span class="stat-value">${value}</span><span class="stat-label">${label}</span></div>`;
}

function partitionStatus(partition) {
  if (partition.leader < 0) return { tone: "bad", text: "offline" };
  if (partition.underReplicated) return { tone: "warn", text: "under-replicated" };
  return { tone: "ok", text: "in sync" };
}

function PartitionTable({ topic, partitions }) {
  return html`<table class="data" data-testid="partition-table">
    <thead><tr>${topic ? html`<th>Topic</th>` : null}<th>Partition</th><th>Leader</th><th>Replicas</th><th>ISR</th><th class="num">Log start</th><th class="num">High watermark</th><th>Status</th></tr></thead>
    <tbody>
      ${partitions.map((p) => {
        const status = partitionStatus(p);
        return html`<tr class=${status.tone === "ok" ? "" : `row-${status.tone}`} data-testid="partition-row">
          ${topic ? html`<td><a href=${`#/topics/${encodeURIComponent(p.topic)}`}>${p.topic}</a></td>` : null}
          <td class="num">${p.partition}</td><td class="num">${p.leader < 0 ? "none" : p.leader}</td>
          <td>${p.replicas.join(", ")}</td><td>${p.isr.join(", ")}</td>
          <td class="num">${p.logStartOffset ?? "–"}</td><td class="num">${p.highWatermark ?? "–"}</td>
          <td><span class=${`badge ${status.tone}`}>${status.text}</span></td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

/** Topics whose partitions the overview lists, at most; a cluster with more shows the unhealthy ones first. */
const OVERVIEW_TOPICS_MAX = 50;

function Overview() {
  const cluster = usePolled(() => api("GET", "/cluster"), [], 5000);
  const partitions = usePolled(async () => {
    const topics = await api("GET", "/topics");
    const ordered = topics.sort((a, b) => b.offlinePartitions + b.underReplicatedPartitions - (a.offlinePartitions + a.underReplicatedPartitions) || a.name.localeCompare(b.name));
    const details = await Promise.all(ordered.slice(0, OVERVIEW_TOPICS_MAX).map((topic) => api("GET", `/topics/${encodeURIComponent(topic.name)}`)));
    return { topics, rows: details.flatMap((detail) => detail.partitions.map((p) => ({ ...p, topic: detail.name }))) };
  }, [], 5000);
  const info = cluster.data;
  const rows = partitions.data?.rows ?? [];
  // A broker that holds replicas but is not registered (stopped, crashed, cut off) still belongs in the table.
  const registered = new Set(info?.brokers.map((broker) => broker.nodeId) ?? []);
  const missing = [...new Set(rows.flatMap((p) => p.replicas))].filter((nodeId) => !registered.has(nodeId)).sort((a, b) => a - b);
  const underReplicated = partitions.data?.topics.reduce((sum, t) => sum + t.underReplicatedPartitions, 0) ?? 0;
  const offline = partitions.data?.topics.reduce((sum, t) => sum + t.offlinePartitions, 0) ?? 0;
  return html`<section>
    <h1>Cluster</h1>
    <${ErrorNote} error=${cluster.error ?? partitions.error} />
    ${info &&
    html`<div class="stats">
      <${Stat} label="brokers" value=${info.brokers.length} testId="stat-brokers" />
      <${Stat} label="controller" value=${info.controllerId < 0 ? "none" : info.controllerId} tone=${info.controllerId < 0 ? "bad" : ""} />
      <${Stat} label="topics" value=${partitions.data?.topics.length ?? "…"} />
      <${Stat} label="partitions" value=${partitions.data?.topics.reduce((sum, t) => sum + t.partitions, 0) ?? "…"} />
      <${Stat} label="under-replicated" value=${underReplicated} tone=${underReplicated > 0 ? "warn" : ""} testId="stat-under-replicated" />
      <${Stat} label="offline" value=${offline} tone=${offline > 0 ? "bad" : ""} testId="stat-offline" />
    </div>
    <h2>Brokers</h2>
    <table class="data" data-testid="broker-table">
      <thead><tr><th>Node</th><th>Address</th><th>Rack</th><th>Role</th></tr></thead>
      <tbody>
        ${info.brokers.map((broker) => html`<tr data-testid="broker-row"><td class="num">${broker.nodeId}</td><td>${broker.host}:${broker.port}</td><td>${broker.rack ?? "–"}</td>
          <td>${broker.controller ? html`<span class="badge ok">controller</span>` : ""} ${broker.nodeId === info.nodeId ? html`<span class="badge">this console</span>` : ""}</td></tr>`)}
        ${missing.map((nodeId) => html`<tr class="row-bad" data-testid="broker-row-offline"><td class="num">${nodeId}</td><td class="muted">not registered</td><td>–</td><td><span class="badge bad">offline</span></td></tr>`)}
      </tbody>
    </table>`}
    <h2>Partitions</h2>
    ${partitions.data && partitions.data.topics.length > OVERVIEW_TOPICS_MAX ? html`<p class="muted">Showing the ${OVERVIEW_TOPICS_MAX} topics with the most unhealthy partitions first, of ${partitions.data.topics.length}.</p>` : null}
    ${rows.length ? html`<${PartitionTable} topic=${true} partitions=${rows} />` : html`<p class="muted">${partitions.loading ? "Loading…" : "No topics yet."}</p>`}
  </section>`;
}

function CreateTopicForm({ created }) {
  const [name, setName] = useState("");
  const [partitionCount, setPartitionCount] = useState("");
  const [replicationFactor, setReplicationFactor] = useState("");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    try {
      const body = { name: name.trim() };
      if (partitionCount !== "") body.partitions = Number(partitionCount);
      if (replicationFactor !== "") body.replicationFactor = Number(replicationFactor);
      await api("POST", "/topics", body);
      setName("");
      setError(null);
      created(body.name);
    } catch (failure) {
      setError(failure.message);
    }
  };
  return html`<form class="inline-form" onSubmit=${submit} data-testid="create-topic-form">
    <input name="name" placeholder="new topic name" required value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
    <input name="partitions" type="number" min="1" placeholder="partitions (default)" value=${partitionCount} onInput=${(e) => setPartitionCount(e.currentTarget.value)} />
    <input name="replicationFactor" type="number" min="1" placeholder="replication (default)" value=${replicationFactor} onInput=${(e) => setReplicationFactor(e.currentTarget.value)} />
    <button type="submit">Create topic</button>
    <${ErrorNote} error=${error} />
  </form>`;
}

function Topics() {
  const topics = usePolled(() => api("GET", "/topics"), [], 5000);
  const stats = useLiveStats();
  const [filter, setFilter] = useState("");
  const [showInternal, setShowInternal] = useState(false);
  const [error, setError] = useState(null);
  const remove = async (name) => {
    if (!confirm(`Delete topic ${name} and all its records?`)) return;
    try {
      await api("DELETE", `/topics/${encodeURIComponent(name)}`);
      setError(null);
      topics.reload();
    } catch (failure) {
      setError(failure.message);
    }
  };
  const shown = (topics.data ?? []).filter((t) => (showInternal || !t.internal) && t.name.includes(filter)).sort((a, b) => a.name.localeCompare(b.name));
  return html`<section>
    <h1>Topics</h1>
    <${CreateTopicForm} created=${(name) => { topics.reload(); location.hash = `#/topics/${encodeURIComponent(name)}`; }} />
    <div class="toolbar">
      <input type="search" placeholder="filter by name" value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} />
      <label><input type="checkbox" checked=${showInternal} onChange=${(e) => setShowInternal(e.currentTarget.checked)} /> internal topics</label>
    </div>
    <${ErrorNote} error=${topics.error ?? error} />
    <table class="data" data-testid="topic-table">
      <thead><tr><th>Name</th><th class="num">Partitions</th><th class="num">Replication</th><th class="num">Size</th><th class="num">Records</th><th class="num">In</th><th class="num">Out</th><th>Health</th><th></th></tr></thead>
      <tbody>
        ${shown.map((topic) => {
          const totals = stats.totals.get(topic.name);
          const rates = stats.rates(topic.name);
          const tone = topic.offlinePartitions ? "bad" : topic.underReplicatedPartitions ? "warn" : "ok";
          return html`<tr data-testid="topic-row" data-topic=${topic.name}>
            <td><a href=${`#/topics/${encodeURIComponent(topic.name)}`}>${topic.name}</a></td>
            <td class="num">${topic.partitions}</td><td class="num">${topic.replicationFactor}</td>
            <td class="num">${totals ? bytes(totals.sizeBytes) : "–"}</td><td class="num">${totals ? count(totals.logEndOffset) : "–"}</td>
            <td class="num">${rate(rates.bytesIn)}</td><td class="num">${rate(rates.bytesOut)}</td>
            <td><span class=${`badge ${tone}`}>${tone === "bad" ? `${topic.offlinePartitions} offline` : tone === "warn" ? `${topic.underReplicatedPartitions} under-replicated` : "healthy"}</span></td>
            <td>${topic.internal ? null : html`<button class="danger small" onClick=${() => remove(topic.name)}>Delete</button>`}</td>
          </tr>`;
        })}
      </tbody>
    </table>
    ${topics.loading ? html`<p class="muted">Loading…</p>` : null}
  </section>`;
}

function ConfigEditor({ topic, configs, saved }) {
  const [edits, setEdits] = useState({});
  const [newKey, setNewKey] = useState("");
  const [error, setError] = useState(null);
  const entries = Array.isArray(configs) ? configs : Object.entries(configs ?? {}).map(([name, value]) => (typeof value === "object" && value !== null ? { name, ...value } : { name, value }));
  const save = async () => {
    try {
      await api("PATCH", `/topics/${encodeURIComponent(topic)}/configs`, edits);
      setEdits({});
      setError(null);
      saved();
    } catch (failure) {
      setError(failure.message);
    }
  };
  return html`<div data-testid="config-editor">
    <table class="data compact">
      <thead><tr><th>Config</th><th>Value</th><th>Source</th></tr></thead>
      <tbody>
        ${entries.map((entry) => html`<tr data-testid="config-row" data-config=${entry.name}>
          <td class="mono">${entry.name}</td>
          <td><input class="mono" value=${edits[entry.name] ?? entry.value ?? ""} onInput=${(e) => setEdits({ ...edits, [entry.name]: e.currentTarget.value })} /></td>
          <td class="muted">${entry.source ?? ""}</td>
        </tr>`)}
      </tbody>
    </table>
    <div class="inline-form">
      <input placeholder="another config, e.g. retention.ms" value=${newKey} onInput=${(e) => setNewKey(e.currentTarget.value)} />
      <button type="button" onClick=${() => { if (newKey.trim()) setEdits({ ...edits, [newKey.trim()]: "" }); setNewKey(""); }}>Add row</button>
      ${Object.keys(edits).filter((key) => !entries.some((entry) => entry.name === key)).map((key) => html`<label class="mono">${key} <input value=${edits[key]} onInput=${(e) => setEdits({ ...edits, [key]: e.currentTarget.value })} /></label>`)}
      <button type="button" disabled=${Object.keys(edits).length === 0} onClick=${save}>Save configs</button>
    </div>
    <${ErrorNote} error=${error} />
  </div>`;
}

function TopicPage({ name }) {
  const detail = usePolled(() => api("GET", `/topics/${encodeURIComponent(name)}`), [name], 5000);
  const configs = usePolled(() => api("GET", `/topics/${encodeURIComponent(name)}/configs`), [name]);
  const [total, setTotal] = useState("");
  const [error, setError] = useState(null);
  const addPartitions = async (event) => {
    event.preventDefault();
    try {
      await api("POST", `/topics/${encodeURIComponent(name)}/partitions`, { count: Number(total) });
      setError(null);
      setTotal("");
      detail.reload();
    } catch (failure) {
      setError(failure.message);
    }
  };
  const topic = detail.data;
  return html`<section>
    <p class="crumbs"><a href="#/topics">Topics</a> / ${name}</p>
    <h1>${name} <a class="button" href=${`#/topics/${encodeURIComponent(name)}/messages`}>Browse messages</a></h1>
    <${ErrorNote} error=${detail.error ?? error} />
    ${topic &&
    html`<div class="stats">
        <${Stat} label="partitions" value=${topic.partitions.length} testId="topic-partition-count" />
        <${Stat} label="replication factor" value=${topic.replicationFactor} />
        <${Stat} label="under-replicated" value=${topic.underReplicatedPartitions} tone=${topic.underReplicatedPartitions ? "warn" : ""} />
        <${Stat} label="offline" value=${topic.offlinePartitions} tone=${topic.offlinePartitions ? "bad" : ""} />
      </div>
      <h2>Partitions</h2>
      <${PartitionTable} partitions=${topic.partitions} />
      <form class="inline-form" onSubmit=${addPartitions} data-testid="add-partitions-form">
        <input type="number" min=${topic.partitions.length + 1} required placeholder=${`new total (> ${topic.partitions.length})`} value=${total} onInput=${(e) => setTotal(e.currentTarget.value)} />
        <button type="submit">Add partitions</button>
      </form>`}
    <h2>Configs</h2>
    <${ErrorNote} error=${configs.error} />
    ${configs.data && html`<${ConfigEditor} topic=${name} configs=${configs.data} saved=${configs.reload} />`}
  </section>`;
}

function Groups() {
  const groups = usePolled(() => api("GET", "/groups"), [], 5000);
  return html`<section>
    <h1>Consumer groups</h1>
    <p class="muted">The groups this broker coordinates (in a cluster, each broker's console lists its own).</p>
    <${ErrorNote} error=${groups.error} />
    <table class="data" data-testid="group-table">
      <thead><tr><th>Group</th><th>State</th><th>Protocol type</th></tr></thead>
      <tbody>
        ${(groups.data ?? []).map((group) => html`<tr data-testid="group-row"><td><a href=${`#/groups/${encodeURIComponent(group.groupId)}`}>${group.groupId}</a></td><td><span class="badge">${group.state}</span></td><td>${group.protocolType || "–"}</td></tr>`)}
      </tbody>
    </table>
    ${groups.data?.length === 0 ? html`<p class="muted">No consumer groups.</p>` : null}
  </section>`;
}

const LAG_HISTORY_POINTS = 150;
/** Partitions drawn beside the total in the lag chart (the ones lagging most when there are more). */
const LAG_CHART_PARTITIONS = 6;

function ResetOffsetsForm({ groupId, topics, done }) {
  const [topic, setTopic] = useState(topics[0] ?? "");
  const [to, setTo] = useState("earliest");
  const [value, setValue] = useState("");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const target = to === "offset" ? Number(value) : to === "timestamp" ? { timestamp: new Date(value).getTime() } : to;
    try {
      await api("POST", `/groups/${encodeURIComponent(groupId)}/reset-offsets`, { topic, to: target });
      setError(null);
      done();
    } catch (failure) {
      setError(failure.message);
    }
  };
  return html`<form class="inline-form" onSubmit=${submit} data-testid="reset-offsets-form">
    <select value=${topic} onChange=${(e) => setTopic(e.currentTarget.value)}>${topics.map((name) => html`<option value=${name}>${name}</option>`)}</select>
    <select value=${to} onChange=${(e) => setTo(e.currentTarget.value)}>
      <option value="earliest">to earliest</option><option value="latest">to latest</option><option value="offset">to offset</option><option value="timestamp">to time</option>
    </select>
    ${to === "offset" ? html`<input type="number" min="0" required value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />` : null}
    ${to === "timestamp" ? html`<input type="datetime-local" required value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />` : null}
    <button type="submit">Reset offsets</button>
    <${ErrorNote} error=${error} />
  </form>`;
}

/** Java's String.hashCode, Kafka's partitionFor (Utils.abs(hash) % partitions) for a group's __consumer_offsets partition. */
function coordinatorPartition(groupId, partitionCount) {
  let hash = 0;
  for (let index = 0; index < groupId.length; index++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(index)) | 0;
  return (hash === -0x80000000 ? 0 : Math.abs(hash)) % partitionCount;
}

/** In a cluster each broker answers for the groups it coordinates: name the broker that has this one. */
function CoordinatorHint({ groupId }) {
  const found = usePolled(async () => {
    const [offsets, cluster] = await Promise.all([api("GET", "/topics/__consumer_offsets"), api("GET", "/cluster")]);
    const leader = offsets.partitions[coordinatorPartition(groupId, offsets.partitions.length)]?.leader ?? -1;
    return { leader, broker: cluster.brokers.find((broker) => broker.nodeId === leader) };
  }, [groupId]);
  if (!found.data) return null;
  const { leader, broker } = found.data;
  return html`<p class="muted" data-testid="coordinator-hint">${leader < 0 ? "The group's coordinator partition has no leader right now." : `Broker ${leader}${broker ? ` (${broker.host}:${broker.port})` : ""} coordinates this group: open the console on that broker's admin listener to see it.`}</p>`;
}

function GroupPage({ groupId }) {
  // [{timeSeconds, total, partitions: Map<"topic[p]", lag>}], the last LAG_HISTORY_POINTS polls.
  const [history, setHistory] = useState([]);
  const group = usePolled(async () => {
    const detail = await api("GET", `/groups/${encodeURIComponent(groupId)}`);
    const partitions = new Map(detail.offsets.map((row) => [`${row.topic}[${row.partition}]`, row.lag]));
    setHistory((points) => [...points, { timeSeconds: Date.now() / 1000, total: detail.totalLag, partitions }].slice(-LAG_HISTORY_POINTS));
    return detail;
  }, [groupId], 2000);
  const detail = group.data;
  const latest = history.at(-1)?.partitions ?? new Map();
  const charted = [...latest.keys()].sort((a, b) => (latest.get(b) ?? 0) - (latest.get(a) ?? 0) || a.localeCompare(b)).slice(0, LAG_CHART_PARTITIONS).sort();
  const lagLabels = ["total", ...(latest.size > 1 ? charted : [])];
  const lagData = [history.map((point) => point.timeSeconds), history.map((point) => point.total), ...lagLabels.slice(1).map((key) => history.map((point) => point.partitions.get(key) ?? null))];
  const topics = detail ? [...new Set(detail.offsets.map((row) => row.topic))] : [];
  return html`<section>
    <p class="crumbs"><a href="#/groups">Groups</a> / ${groupId}</p>
    <h1>${groupId}</h1>
    <${ErrorNote} error=${group.error} />
    ${group.error?.includes("NOT_COORDINATOR") ? html`<${CoordinatorHint} groupId=${groupId} />` : null}
    ${detail &&
    html`<div class="stats">
        <${Stat} label="state" value=${detail.state} />
        <${Stat} label="members" value=${detail.members.length} />
        <${Stat} label="total lag" value=${count(detail.totalLag)} tone=${detail.totalLag > 0 ? "warn" : ""} testId="group-total-lag" />
      </div>
      <${LineChart} title="Lag (records)" labels=${lagLabels} data=${lagData} format=${count} testId="lag-chart" />
      <h2>Members</h2>
      <table class="data" data-testid="member-table">
        <thead><tr><th>Member</th><th>Client</th><th>Host</th><th>Assignment</th></tr></thead>
        <tbody>${detail.members.map((member) => html`<tr><td class="mono">${member.memberId}</td><td>${member.clientId}</td><td>${member.clientHost}</td>
          <td>${(member.assignment ?? []).map((a) => `${a.topic}[${a.partitions.join(",")}]`).join(" ") || "–"}</td></tr>`)}</tbody>
      </table>
      <h2>Lag per partition</h2>
      <table class="data" data-testid="lag-table">
        <thead><tr><th>Topic</th><th class="num">Partition</th><th class="num">Committed</th><th class="num">High watermark</th><th class="num">Lag</th></tr></thead>
        <tbody>${detail.offsets.map((row) => html`<tr data-testid="lag-row" class=${row.lag > 0 ? "row-warn" : ""}><td>${row.topic}</td><td class="num">${row.partition}</td><td class="num">${row.committedOffset}</td><td class="num">${row.highWatermark ?? "–"}</td><td class="num" data-testid="lag-value">${row.lag ?? "–"}</td></tr>`)}</tbody>
      </table>
      <h2>Reset offsets</h2>
      ${detail.state === "Empty" || detail.state === "Dead"
        ? html`<${ResetOffsetsForm} groupId=${groupId} topics=${topics} done=${group.reload} />`
        : html`<p class="muted">Offsets can be reset only while the group has no members (it is ${detail.state}).</p>`}`}
  </section>`;
}

/** Series names seen in the history, sorted, at most `max` of those `keep` accepts. */
function seriesOf(history, pick, keep = () => true, max = 8) {
  const names = new Set();
  for (const point of history) for (const name of pick(point).keys()) names.add(name);
  return [...names].filter(keep).sort().slice(0, max);
}

/** The client-facing APIs the latency chart draws (two series each: p50 and p99). */
const CHARTED_APIS = new Set(["Produce", "Fetch", "Metadata", "OffsetCommit"]);

function Live() {
  const stats = useLiveStats();
  const history = stats.history;
  const times = history.map((point) => point.timeSeconds);
  const topicNames = seriesOf(history, (point) => point.topics);
  const apiNames = seriesOf(history, (point) => point.latency, (name) => CHARTED_APIS.has(name));
  const topicSeries = (key) => [times, ...topicNames.map((name) => history.map((point) => point.topics.get(name)?.[key] ?? null))];
  const latencySeries = [times, ...apiNames.flatMap((name) => [history.map((p) => p.latency.get(name)?.p50 ?? null), history.map((p) => p.latency.get(name)?.p99 ?? null)])];
  const seconds = (value) => (value >= 1 ? `${value.toFixed(2)} s` : `${(value * 1000).toFixed(value < 0.01 ? 2 : 1)} ms`);
  return html`<section data-testid="live" data-points=${history.length}>
    <h1>Live</h1>
    <p class="muted">From this broker's /metrics every 2 s${history.length < 2 ? " (collecting the first points…)" : ""}.</p>
    <${ErrorNote} error=${stats.error} />
    <div class="chart-grid">
      <${LineChart} title="Bytes in per second, by topic" labels=${topicNames} data=${topicSeries("bytesIn")} format=${rate} testId="chart-bytes-in" />
      <${LineChart} title="Bytes out per second, by topic" labels=${topicNames} data=${topicSeries("bytesOut")} format=${rate} testId="chart-bytes-out" />
      <${LineChart} title="Records in per second, by topic" labels=${topicNames} data=${topicSeries("recordsIn")} format=${count} testId="chart-records-in" />
      <${LineChart} title="Request latency p50 / p99 (a Fetch's long-poll wait included)" labels=${apiNames.flatMap((name) => [`${name} p50`, `${name} p99`])} data=${latencySeries} format=${seconds} testId="chart-latency" />
    </div>
  </section>`;
}

function Login({ done }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    session.login(user, password);
    try {
      await api("GET", "/cluster");
      done();
    } catch (failure) {
      session.logout();
      setError(failure instanceof UnauthorizedError ? "Wrong user name or password." : failure.message);
    }
  };
  return html`<main class="login"><form onSubmit=${submit} data-testid="login-form">
    <h1>Bunka</h1>
    <p class="muted">Sign in with a Kafka user of this cluster (SASL PLAIN or SCRAM).</p>
    <label>User <input name="user" autocomplete="username" required value=${user} onInput=${(e) => setUser(e.currentTarget.value)} /></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} /></label>
    <button type="submit">Sign in</button>
    <${ErrorNote} error=${error} />
  </form></main>`;
}

const NAV = [
  ["overview", "Overview"],
  ["topics", "Topics"],
  ["groups", "Groups"],
  ["live", "Live"],
];

function Page({ route }) {
  const [section, name, sub] = route;
  if (section === "topics" && name && sub === "messages") return html`<${MessageBrowser} topic=${name} />`;
  if (section === "topics" && name) return html`<${TopicPage} name=${name} />`;
  if (section === "topics") return html`<${Topics} />`;
  if (section === "groups" && name) return html`<${GroupPage} groupId=${name} />`;
  if (section === "groups") return html`<${Groups} />`;
  if (section === "live") return html`<${Live} />`;
  return html`<${Overview} />`;
}

function App() {
  const route = useRoute();
  const [auth, setAuth] = useState({ checked: false, required: false, signedIn: Boolean(session.basic) });
  useEffect(() => {
    consoleSession().then((info) => setAuth((previous) => ({ ...previous, checked: true, required: info.authRequired })));
    const unauthorized = () => {
      session.logout();
      setAuth((previous) => ({ ...previous, signedIn: false }));
    };
    addEventListener("bunka:unauthorized", unauthorized);
    return () => removeEventListener("bunka:unauthorized", unauthorized);
  }, []);
  if (!auth.checked) return null;
  if (auth.required && !auth.signedIn) return html`<${Login} done=${() => setAuth({ ...auth, signedIn: true })} />`;
  return html`<div class="shell">
    <header>
      <a class="brand" href="#/overview">Bunka</a>
      <nav>${NAV.map(([key, label]) => html`<a href=${`#/${key}`} class=${route[0] === key ? "active" : ""}>${label}</a>`)}</nav>
      ${auth.required ? html`<button class="link" onClick=${() => { session.logout(); setAuth({ ...auth, signedIn: false }); }}>Sign out</button>` : null}
    </header>
    <main><${Page} route=${route} /></main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
