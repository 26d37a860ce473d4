// The gallery's behaviour: copy buttons, infinite scroll, the live view, tidy filter URLs.
// Served as a file (the Content-Security-Policy allows no inline script); no dependencies.
'use strict';
(function () {
  function select(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  document.addEventListener('click', function (e) {
    const button = e.target.closest('button.copy');
    if (!button) return;
    const el = document.getElementById(button.dataset.copy);
    if (!el) return;
    const done = function () {
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = 'Copy'; }, 1500);
    };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent).then(done, function () { select(el); });
    } else {
      select(el);
    }
  });

  const filters = document.querySelector('form.filters');
  if (filters) {
    // Empty fields stay out of the URL; a changed choice applies at once.
    filters.addEventListener('submit', function () {
      for (const el of filters.elements) if (el.name && !el.value) el.disabled = true;
    });
    window.addEventListener('pageshow', function () {
      for (const el of filters.elements) el.disabled = false;
    });
    for (const sel of filters.querySelectorAll('select, input[type=date]')) {
      sel.addEventListener('change', function () { filters.requestSubmit(); });
    }
  }

  const grid = document.getElementById('grid');
  if (!grid) return;

  function fragment(html) {
    const t = document.createElement('template');
    t.innerHTML = html;
    return t.content;
  }

  let loading = false;
  const observer = 'IntersectionObserver' in window
    ? new IntersectionObserver(function (entries) {
      for (const entry of entries) if (entry.isIntersecting) more(entry.target);
    }, { rootMargin: '800px' })
    : null;

  function watchMore() {
    const marker = grid.querySelector('.more');
    if (marker && observer) observer.observe(marker);
  }

  async function more(marker) {
    if (loading) return;
    loading = true;
    observer.unobserve(marker);
    try {
      const response = await fetch(marker.dataset.next, { credentials: 'same-origin' });
      if (!response.ok) throw new Error('the server answered ' + response.status);
      const tiles = fragment(await response.text());
      marker.remove();
      grid.appendChild(tiles);
    } catch (err) {
      marker.textContent = 'Could not load more: ' + err.message;
      marker.classList.add('failed');
    }
    loading = false;
    watchMore();
  }
  watchMore();

  if (grid.dataset.live && 'EventSource' in window) {
    const source = new EventSource('/events');
    // Shown as a badge by the stylesheet; tests wait for it before dropping a file.
    source.addEventListener('open', function () { grid.dataset.connected = '1'; });
    source.addEventListener('error', function () { delete grid.dataset.connected; });
    source.addEventListener('asset', function (ev) {
      const tile = fragment(ev.data).querySelector('.tile');
      if (!tile || grid.querySelector('.tile[data-id="' + tile.dataset.id + '"]')) return;
      tile.classList.add('new');
      grid.prepend(tile);
      const empty = document.getElementById('empty');
      if (empty) empty.remove();
    });
  }
})();
