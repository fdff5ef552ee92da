// My history, live: new items arrive as server-sent events (fed by WatchMyHistory) and are
// added to the table as rows the server rendered. Without JavaScript, reloading does the same.
'use strict';

const body = document.getElementById('history-items');
const status = document.getElementById('live-status');
const print = document.getElementById('print');
if (print) {
  print.hidden = false;
  print.addEventListener('click', () => window.print());
}
if (body && body.dataset.live && typeof EventSource !== 'undefined') {
  const source = new EventSource(body.dataset.live);
  source.onmessage = (event) => {
    const { position, row } = JSON.parse(event.data);
    if (document.getElementById(`item-${position}`)) return; // already shown
    body.insertAdjacentHTML('beforeend', row);
    const empty = document.getElementById('no-items');
    if (empty) empty.hidden = true;
    if (status) status.textContent = body.lastElementChild.textContent.replace(/\s+/g, ' ').trim();
  };
  // When the stream ends (the token that opened it was renewed) the browser reconnects with
  // Last-Event-ID; once the session is over the answer is the sign-in page and it stops.
}
