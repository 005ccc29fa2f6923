// Live updates of the store list. The server pushes, over Server-Sent
// Events at /events, the table rows rendered (and escaped) by the same
// templates as the page; this script puts them in place. If the stream
// cannot be kept open, it polls the JSON API instead and builds the rows
// with textContent only. Without this script the page still works:
// reload it for the latest state.
(function () {
  "use strict";

  var table = document.getElementById("stores");
  if (!table) {
    return;
  }
  var rows = document.getElementById("store-rows");
  var count = document.getElementById("store-count");
  var banner = document.getElementById("banner");
  var status = document.getElementById("status");
  var live = document.getElementById("live");
  var query = table.getAttribute("data-query") || "";
  var suffix = query ? "?" + query : "";
  var pollEvery = 10000;
  var polling = false;

  function say(text) {
    if (live) {
      live.textContent = text;
    }
  }

  function updated(mode) {
    document.body.setAttribute("data-live", mode);
    document.body.setAttribute("data-updated", String(Date.now()));
  }

  // applyFragments takes an update of /events: HTML the server rendered.
  function applyFragments(u) {
    rows.innerHTML = u.rows;
    count.innerHTML = u.count;
    banner.innerHTML = u.banner;
    status.innerHTML = u.status;
    updated("sse");
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined) {
      e.textContent = text;
    }
    return e;
  }

  function short(rev) {
    return rev ? rev.slice(0, 10) : "\u2014";
  }

  function safeURL(u) {
    return /^https?:\/\//i.test(u || "") ? u : "";
  }

  var icons = {
    Ready: "\u2714", Failed: "\u2716", Degraded: "\u25b2", Provisioning: "\u25d0",
    Deleting: "\u2296", Suspended: "\u23f8"
  };

  function phaseBadge(phase) {
    var cls = "phase-" + String(phase).toLowerCase();
    var span = el("span", "phase " + cls);
    var icon = el("span", "", icons[phase] || "\u25cb");
    icon.setAttribute("aria-hidden", "true");
    span.appendChild(icon);
    span.appendChild(document.createTextNode(" " + phase));
    return span;
  }

  function link(href, text) {
    var a = el("a", "", text);
    a.href = href;
    a.rel = "noopener noreferrer";
    return a;
  }

  function rowOf(st) {
    var tr = el("tr", "phase-" + String(st.phase).toLowerCase());
    tr.id = "store-" + st.name;
    var name = el("td", "name");
    name.appendChild(link("/stores/" + encodeURIComponent(st.name), st.name));
    if (!st.declared) {
      name.appendChild(document.createTextNode(" "));
      name.appendChild(el("span", "tag", "no longer declared"));
    }
    tr.appendChild(name);
    tr.appendChild(el("td", "", st.type));
    tr.appendChild(el("td", "", st.plan));
    var phase = el("td", "phase-cell");
    phase.appendChild(phaseBadge(st.phase));
    tr.appendChild(phase);
    var links = el("td", "links");
    var urls = st.urls || {};
    if (safeURL(urls.store)) {
      links.appendChild(link(urls.store, "Store"));
    }
    if (safeURL(urls.admin)) {
      links.appendChild(document.createTextNode(" "));
      links.appendChild(link(urls.admin, "Admin"));
    }
    tr.appendChild(links);
    var applied = el("td");
    var code = el("code", "", short(st.appliedRevision));
    code.title = st.appliedRevision || "";
    applied.appendChild(code);
    tr.appendChild(applied);
    var msg = el("td", "message");
    if (st.lastError) {
      msg.appendChild(el("span", "error-text", st.lastError));
    } else {
      msg.textContent = st.message || "";
    }
    tr.appendChild(msg);
    return tr;
  }

  // applyList takes the answer of /api/v1/stores.
  function applyList(list, total) {
    var stores = list.stores || [];
    rows.textContent = "";
    stores.forEach(function (st) {
      rows.appendChild(rowOf(st));
    });
    if (stores.length === 0) {
      var tr = el("tr", "empty");
      var td = el("td", "", "No stores match.");
      td.colSpan = 7;
      tr.appendChild(td);
      rows.appendChild(tr);
    }
    count.textContent = stores.length + " of " + total + " stores";
    updated("poll");
  }

  function applyStatus(st) {
    status.textContent = "Revision ";
    var code = el("code", "", short(st.revision));
    code.title = st.revision || "";
    status.appendChild(code);
    status.appendChild(document.createTextNode(st.syncing ? " \u00b7 syncing\u2026" : " \u00b7 idle"));
    banner.textContent = "";
    if (!st.refused) {
      return;
    }
    var r = st.refused;
    var sec = el("section", "banner");
    sec.setAttribute("role", "alert");
    sec.id = "refused";
    sec.appendChild(el("h2", "", "\u26a0 Sync refused \u2014 " + r.reason));
    sec.appendChild(el("p", "banner-message", r.message));
    if (r.errors && r.errors.length) {
      var ul = el("ul", "errors");
      r.errors.forEach(function (line) {
        var li = el("li");
        li.appendChild(el("code", "", line));
        ul.appendChild(li);
      });
      sec.appendChild(ul);
    }
    var p = el("p", "", "Nothing was changed in the cluster: the last good revision stays applied. ");
    p.appendChild(link("/sync", "Sync details"));
    sec.appendChild(p);
    banner.appendChild(sec);
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) {
          throw new Error(url + ": " + res.status);
        }
        return res.json();
      });
  }

  function poll() {
    Promise.all([getJSON("/api/v1/stores" + suffix), getJSON("/api/v1/status")])
      .then(function (got) {
        applyStatus(got[1]);
        applyList(got[0], got[1].stores);
        say("Live stream unavailable; refreshing every " + pollEvery / 1000 + " seconds.");
      })
      .catch(function () {
        say("Cannot reach storeops; retrying\u2026");
      })
      .then(function () {
        setTimeout(poll, pollEvery);
      });
  }

  function startPolling() {
    if (polling) {
      return;
    }
    polling = true;
    poll();
  }

  function startStream() {
    if (!window.EventSource) {
      startPolling();
      return;
    }
    var failures = 0;
    var es = new EventSource("/events" + suffix);
    es.addEventListener("stores", function (e) {
      failures = 0;
      applyFragments(JSON.parse(e.data));
      say("Live: changes appear as they happen.");
    });
    es.onerror = function () {
      failures++;
      if (es.readyState === EventSource.CLOSED || failures >= 3) {
        es.close();
        startPolling();
        return;
      }
      say("Live updates interrupted; reconnecting\u2026");
    };
  }

  startStream();
})();
