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
  let url = body.dataset.live;
  const source = new EventSource(url);
  source.onmessage = (event) => {
    const { position, row } = JSON.parse(event.data);
    if (document.getElementById(`item-${position}`)) return; // already shown
    body.insertAdjacentHTML('beforeend', row);
    const empty = document.getElementById('no-items');
    if (empty) empty.hidden = true;
    if (status) status.textContent = body.lastElementChild.textContent.replace(/\s+/g, ' ').trim();
  };
  source.addEventListener('ended', () => source.close()); // the session ended: no reconnect
}
