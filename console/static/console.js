// Every form with data-confirm asks before it is sent: the console's actions change a case
// for good (accept, refuse, issue). Served from our own origin (CSP script-src 'self').
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
