// mailbeacon dashboard: small enhancements; every page reads without this file.
"use strict";

// The viewer's time zone, for the server to show times and periods in it.
(function rememberZone() {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("mb_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "mb_tz=" + encodeURIComponent(zone) + "; path=/dashboard; SameSite=Lax; max-age=31536000";
    }
  } catch (e) { /* no Intl: times stay in UTC */ }
})();

document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: copy the named input's value.
  document.querySelectorAll(".copy-button").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      if (!input) { return; }
      input.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else { document.execCommand("copy"); done(); }
    });
  });

  // Selects that submit their form when changed (the project picker).
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // The live page: raw hits at once, their verdict when promoted.
  var table = document.getElementById("live");
  if (table && window.EventSource) {
    var body = table.querySelector("tbody");
    var state = document.getElementById("live-state");
    var source = new EventSource(table.dataset.stream);
    var cell = function (row, text) {
      var td = document.createElement("td");
      td.textContent = text;
      row.appendChild(td);
      return td;
    };
    source.addEventListener("open", function () { state.textContent = "Listening for hits."; });
    source.addEventListener("error", function () { state.textContent = "Reconnecting…"; });
    source.addEventListener("hit", function (message) {
      var hit = JSON.parse(message.data);
      var row = document.createElement("tr");
      row.id = "hit-" + hit.id;
      cell(row, new Date(hit.at).toLocaleTimeString());
      cell(row, hit.kind);
      cell(row, hit.recipient);
      var link = document.createElement("a");
      link.href = "/dashboard/messages/" + hit.message;
      link.textContent = hit.subject || "(no subject)";
      cell(row, "").appendChild(link);
      var who = cell(row, "judging…");
      who.className = "who pending";
      body.insertBefore(row, body.firstChild);
    });
    source.addEventListener("verdict", function (message) {
      var verdict = JSON.parse(message.data);
      var row = document.getElementById("hit-" + verdict.id);
      if (!row) { return; }
      var who = row.querySelector(".who");
      who.textContent = verdict.label + " (" + verdict.classification + ", machine probability " + verdict.probability + " %)";
      who.className = "who " + verdict.audience;
    });
  }
});
