// Every form with data-confirm asks before it is sent: the console's actions change a case
// for good (accept, refuse, issue). Served from our own origin (CSP script-src 'self').
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
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
