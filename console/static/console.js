// Live tables: a tbody with data-live reloads its rows from that URL every data-every milliseconds.
document.querySelectorAll("tbody[data-live]").forEach(function (body) {
  var every = parseInt(body.dataset.every, 10) || 5000;
  setInterval(function () {
    fetch(body.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401 || r.status === 403) { window.location.reload(); return null; }
        var asOf = r.headers.get("X-Scores-As-Of");  // the scores' freshness, shown as 得分截至
        if (asOf) { document.querySelectorAll("[data-as-of]").forEach(function (el) { el.textContent = asOf; }); }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) { body.innerHTML = html; } })
      .catch(function () {});
  }, every);
});
