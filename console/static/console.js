// Every form with data-confirm asks before it is sent: the console's actions change a case
// for good (accept, refuse, issue). Served from our own origin (CSP script-src 'self').
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// A page photographed sideways: each press turns it a quarter (rotate-90/180/270 in
// console.css); the frame makes room for a turned page so it does not cover its neighbours.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-rotate]");
  if (!button) return;
  const image = document.getElementById(button.dataset.rotate);
  const turns = ((Number(image.dataset.turns) || 0) + 1) % 4;
  image.dataset.turns = String(turns);
  image.classList.remove("rotate-90", "rotate-180", "rotate-270");
  if (turns) image.classList.add(`rotate-${turns * 90}`);
  const frame = image.closest(".page-frame");
  const spare = turns % 2 ? Math.max(0, (image.offsetWidth - image.offsetHeight) / 2) : 0;
  frame.style.paddingBlock = `${spare}px`;
});

// The inspection team picker says, as boxes are ticked, which units still need an inspector
// (the server says the same on load and the service decides on sending).
document.addEventListener("change", (event) => {
  const unit = event.target.closest("fieldset.unit[data-unit]");
  const state = unit && unit.querySelector(".unit-state");
  if (!state || event.target.name !== "team") return;
  const covered = unit.querySelector("input[name=team]:checked") !== null;
  unit.classList.toggle("needs", !covered);
  state.textContent = covered ? state.dataset.covered : state.dataset.needed;
});

// A refused action: its summary at the top of the page (base.html) takes the focus, so a
// screen reader reads it and the keyboard starts from it.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("problem");
  if (summary) summary.focus();
});

// The dashboard's charts (Chart.js, served from console/static): the data comes in the
// page's <script type="application/json" id="dashboard-data"> block, not in inline code.
document.addEventListener("DOMContentLoaded", () => {
  const block = document.getElementById("dashboard-data");
  if (!block || !window.Chart) return;
  const data = JSON.parse(block.textContent);
  const draw = (id, labels, datasets, scales) => new window.Chart(document.getElementById(id), {
    data: { labels, datasets },
    options: { responsive: true, maintainAspectRatio: false, animation: false, scales },
  });
  draw("chart-trend", data.months, [
    { type: "bar", label: "收件（件）", data: data.received, yAxisID: "count" },
    { type: "bar", label: "发证（件）", data: data.licensed, yAxisID: "count" },
    { type: "line", label: "平均用时（工作日）", data: data.average_days, yAxisID: "days" },
  ], { count: { position: "left", beginAtZero: true },
       days: { position: "right", beginAtZero: true } });
  draw("chart-units", data.units, [
    { type: "bar", label: "事项平均用时（工作日）", data: data.unit_items_days, yAxisID: "days" },
    { type: "line", label: "超期率（%）", data: data.unit_late_share, yAxisID: "share" },
  ], { days: { position: "left", beginAtZero: true },
       share: { position: "right", beginAtZero: true, max: 100 } });
  document.body.dataset.charts = "drawn";
});
