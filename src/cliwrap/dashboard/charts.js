// Charts as inline SVG, drawn here: no library, nothing fetched.

const SVG = "http://www.w3.org/2000/svg";

function element(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, String(value));
  }
  if (text !== null) {
    node.textContent = text;
  }
  return node;
}

function empty(container, message) {
  const note = document.createElement("p");
  note.className = "muted";
  note.textContent = message;
  container.replaceChildren(note);
}

/**
 * Horizontal bars: ``rows`` is a list of {label, value, title}; ``unit`` follows each value.
 */
export function barChart(container, rows, { unit = "", empty: none = "Nothing yet." } = {}) {
  if (!rows.length) {
    empty(container, none);
    return;
  }
  const rowHeight = 22;
  const labelWidth = 110;
  const width = 340;
  const barSpace = width - labelWidth - 56;
  const max = Math.max(...rows.map((row) => row.value), 1);
  const svg = element("svg", {
    viewBox: `0 0 ${width} ${rows.length * rowHeight + 4}`,
    role: "img",
    class: "bars",
  });
  rows.forEach((row, index) => {
    const y = index * rowHeight + 2;
    const length = Math.max(1, (row.value / max) * barSpace);
    const group = element("g");
    group.append(element("title", {}, row.title || `${row.label}: ${row.value}${unit}`));
    group.append(
      element("text", { x: labelWidth - 6, y: y + 15, "text-anchor": "end", class: "label" }, row.label),
    );
    group.append(element("rect", { x: labelWidth, y: y + 3, width: length, height: rowHeight - 8, rx: 3 }));
    group.append(
      element("text", { x: labelWidth + length + 6, y: y + 15, class: "value" }, `${format(row.value)}${unit}`),
    );
    svg.append(group);
  });
  container.replaceChildren(svg);
}

/**
 * Columns over time: each of ``points`` is {value, title, kind}; the newest on the right.
 * ``kind`` colours it: "ok", "failed" or "stopped".
 */
export function columnChart(container, points, { unit = "", empty: none = "Nothing yet." } = {}) {
  if (!points.length) {
    empty(container, none);
    return;
  }
  const width = 640;
  const height = 110;
  const gap = 2;
  const max = Math.max(...points.map((point) => point.value), 1);
  const columnWidth = Math.min(24, Math.max(2, (width - 50) / points.length - gap));
  const svg = element("svg", { viewBox: `0 0 ${width} ${height + 16}`, role: "img", class: "columns" });
  svg.append(element("text", { x: 0, y: 10, class: "axis" }, `${format(max)}${unit}`));
  svg.append(element("line", { x1: 46, y1: height, x2: width, y2: height, class: "base" }));
  points.forEach((point, index) => {
    const h = Math.max(1, (point.value / max) * (height - 14));
    const x = 50 + index * (columnWidth + gap);
    const rect = element("rect", {
      x,
      y: height - h,
      width: columnWidth,
      height: h,
      class: point.kind || "ok",
    });
    rect.append(element("title", {}, point.title));
    svg.append(rect);
  });
  container.replaceChildren(svg);
}

export function format(value) {
  if (value >= 10000) {
    return `${(value / 1000).toFixed(value >= 100000 ? 0 : 1)}k`;
  }
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
