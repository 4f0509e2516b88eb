// A uPlot line chart as a Preact component: created once on mount, fed new data with setData (no re-creation
// per update), resized with its container, destroyed on unmount.
import { h } from "preact";
import { useEffect, useRef } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";

const html = htm.bind(h);
const PALETTE = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#14b8a6", "#eab308", "#64748b"];

/** data: [times, ...series values]; labels: one per series; format: axis value formatter. */
export function LineChart({ title, labels, data, format = (value) => String(value), height = 220, testId }) {
  const container = useRef(null);
  const chart = useRef(null);
  const shape = labels.join("\u0000");

  useEffect(() => {
    const element = container.current;
    // Canvas strokes cannot use CSS variables: read the theme's colours once per chart.
    const style = getComputedStyle(document.documentElement);
    const muted = style.getPropertyValue("--muted").trim() || "#6b7585";
    const grid = style.getPropertyValue("--grid").trim() || "#eceff4";
    const options = {
      width: Math.max(280, element.clientWidth),
      height,
      legend: { live: true },
      // A single point would otherwise stretch the time axis over years.
      scales: { x: { time: true, range: (_, min, max) => (max - min < 10 ? [max - 60, max + 1] : [min, max]) }, y: { range: (_, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] } },
      axes: [
        { stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid } },
        { stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid }, size: 92, values: (_, ticks) => ticks.map(format) },
      ],
      series: [{}, ...labels.map((label, index) => ({ label, stroke: PALETTE[index % PALETTE.length], width: 2, points: { size: 5 }, value: (_, v) => (v == null ? "–" : format(v)) }))],
    };
    chart.current = new uPlot(options, data, element);
    const resize = new ResizeObserver(() => chart.current?.setSize({ width: Math.max(280, element.clientWidth), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, [shape, height]);

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  return html`<figure class="chart" data-testid=${testId}>
    <figcaption>${title}</figcaption>
    <div ref=${container}></div>
  </figure>`;
}
