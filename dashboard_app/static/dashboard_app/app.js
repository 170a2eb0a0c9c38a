/* The web app's behaviour: live updates from the event stream and the recurrence picker.
 *
 * Live updates: one EventSource per page on the user's own stream. An event does not carry
 * HTML, so it only tells the page which fragments to re-fetch: task events fire `todo:tasks`,
 * reminder and delivery events fire `todo:alerts`, and fragments listen with
 * hx-trigger="todo:tasks from:body". Re-fetches are coalesced: a burst of events (a series
 * edit touches many tasks) costs one request per fragment. After the stream was down, the
 * page re-fetches everything once (`todo:resync`), as events may have been missed.
 */
(function () {
  "use strict";

  const body = document.body;
  const pending = {};

  function fire(name) {
    if (pending[name]) return;
    pending[name] = setTimeout(function () {
      delete pending[name];
      if (window.htmx) window.htmx.trigger(body, name);
    }, 30);
  }

  function setStatus(state, text) {
    const status = document.getElementById("live-status");
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  function live() {
    const url = body.dataset.stream;
    if (!url || !window.EventSource) return;
    const taskTypes = (body.dataset.taskEvents || "").split(" ").filter(Boolean);
    const alertTypes = (body.dataset.alertEvents || "").split(" ").filter(Boolean);
    let retry = 1000;
    let wasDown = false;
    let source = null;

    function connect() {
      source = new EventSource(url, { withCredentials: true });
      taskTypes.forEach(function (type) {
        source.addEventListener(type, function () { fire("todo:tasks"); });
      });
      alertTypes.forEach(function (type) {
        source.addEventListener(type, function () { fire("todo:alerts"); });
      });
      source.onopen = function () {
        retry = 1000;
        setStatus("live", "live");
        if (wasDown) fire("todo:resync");
        wasDown = false;
      };
      source.onerror = function () {
        wasDown = true;
        setStatus("offline", "offline, retrying…");
        // The browser retries a dropped stream itself (resuming with Last-Event-ID); a refused
        // one (an error status, no stream served) closes it for good, so retry with back-off.
        if (source.readyState === EventSource.CLOSED) {
          setTimeout(connect, retry);
          retry = Math.min(retry * 2, 60000);
        }
      };
    }
    // Close the stream when the page is left: a page kept in the back-forward cache would
    // otherwise hold its connection, and over HTTP/1.1 a browser opens only six per server.
    window.addEventListener("pagehide", function () {
      if (source) source.close();
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        wasDown = true;
        connect();
      }
    });
    connect();
  }

  /* Show only the picker's controls that apply to the chosen frequency. */
  function picker(root) {
    root.querySelectorAll("fieldset.recurrence").forEach(function (fieldset) {
      const select = fieldset.querySelector("select[name$='repeat']");
      if (!select) return;
      function update() {
        fieldset.querySelectorAll("[data-show-for]").forEach(function (part) {
          part.hidden = part.dataset.showFor.split(" ").indexOf(select.value) === -1;
        });
      }
      select.addEventListener("change", update);
      update();
    });
  }

  picker(document);
  live();
})();
