// Compose, bulk and edit forms: live caption counters (the server counts: POST /web/posts/counts), the caption and
// option sections of the platforms chosen, and a progress line while the form is sent. Without this file the forms
// still work: every section is shown and the server checks everything on submit.
(function () {
  "use strict";

  var form = document.getElementById("compose-form") || document.getElementById("bulk-form");
  if (!form) {
    return;
  }
  var csrf = form.elements.namedItem("csrf");
  var countsUrl = form.getAttribute("data-counts");
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox][data-platform]"));
  var sections = Array.prototype.slice.call(form.querySelectorAll(".compose-caption[data-platform]"));
  var areas = Array.prototype.slice.call(form.querySelectorAll("textarea[data-platform]"));
  var timer = null;
  var asked = 0;

  function chosenPlatforms() {
    var chosen = {};
    boxes.forEach(function (box) {
      if (box.checked) {
        chosen[box.getAttribute("data-platform")] = true;
      }
    });
    return chosen;
  }

  // Only the chosen platforms' sections are shown (forms without account boxes, like the edit form, show all).
  function showChosen() {
    if (!boxes.length) {
      return;
    }
    var chosen = chosenPlatforms();
    sections.forEach(function (section) {
      section.hidden = !chosen[section.getAttribute("data-platform")];
    });
  }

  function render(platform, counted) {
    var line = document.getElementById("count-" + platform);
    var list = document.getElementById("problems-" + platform);
    if (!line || !list) {
      return;
    }
    var text = counted.count + " / " + counted.limit + " " + counted.unit;
    if (counted.count > counted.limit) {
      text += ": too long";
    }
    if (line.textContent.trim() !== text) {
      line.textContent = text;
    }
    line.classList.toggle("compose-over", !counted.ok);
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    counted.problems.forEach(function (problem) {
      var item = document.createElement("li");
      item.textContent = problem;
      list.appendChild(item);
    });
  }

  function count() {
    if (!countsUrl || !csrf || !areas.length || !window.fetch) {
      return;
    }
    var captions = {};
    areas.forEach(function (area) {
      var section = area.closest(".compose-caption");
      if (!section || !section.hidden) {
        captions[area.getAttribute("data-platform")] = area.value;
      }
    });
    if (!Object.keys(captions).length) {
      return;
    }
    var mine = ++asked;
    fetch(countsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf.value },
      body: JSON.stringify({ captions: captions })
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        if (!answer || mine !== asked) {
          return; // refused, or a newer count is on its way
        }
        Object.keys(answer.counts).forEach(function (platform) {
          render(platform, answer.counts[platform]);
        });
      })
      .catch(function () {
        // The server checks again on submit; a missed count changes nothing.
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(count, 250);
  }

  areas.forEach(function (area) {
    area.addEventListener("input", later);
  });
  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      showChosen();
      later();
    });
  });

  form.addEventListener("submit", function () {
    var progress = document.getElementById("compose-progress");
    if (!progress) {
      return;
    }
    var accounts = boxes.filter(function (box) { return box.checked; }).length;
    var clips = form.querySelectorAll("input[type=checkbox][name^='clip-']:checked").length;
    if (form.id === "bulk-form") {
      progress.textContent = "Scheduling " + clips + " post" + (clips === 1 ? "" : "s") + " to " + accounts +
        " account" + (accounts === 1 ? "" : "s") + "…";
    } else {
      progress.textContent = "Scheduling the post to " + accounts + " account" + (accounts === 1 ? "" : "s") + "…";
    }
    form.setAttribute("aria-busy", "true");
  });

  showChosen();
})();
