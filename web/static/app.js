// ringbank pages: small progressive enhancements. Every page works without this file.
// - CPF/CNPJ fields (data-document) are checked as you type and punctuated on blur;
// - the transfer form can add source rows and shows the running total;
// - a receipt whose transfer is pending polls its status until it is final.
(function () {
  "use strict";
  var pt = document.documentElement.lang !== "en";
  var text = {
    ok: pt ? "Documento válido" : "Valid document",
    bad: pt ? "Dígitos verificadores não conferem" : "The check digits do not match",
    length: pt ? "CPF tem 11 dígitos; CNPJ, 14 caracteres" : "A CPF has 11 digits; a CNPJ 14 characters"
  };

  function bare(value) { return value.replace(/[.\-\/\s]/g, "").toUpperCase(); }

  function cpfValid(d) {
    if (!/^\d{11}$/.test(d) || /^(\d)\1{10}$/.test(d)) return false;
    for (var n = 9; n < 11; n++) {
      var sum = 0;
      for (var i = 0; i < n; i++) sum += Number(d[i]) * (n + 1 - i);
      var check = (sum * 10) % 11 % 10;
      if (check !== Number(d[n])) return false;
    }
    return true;
  }

  function cnpjValid(d) {
    if (!/^[0-9A-Z]{12}\d{2}$/.test(d) || /^(\d)\1{13}$/.test(d)) return false;
    var weights = [[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]];
    for (var k = 0; k < 2; k++) {
      var sum = 0;
      for (var i = 0; i < weights[k].length; i++) sum += (d.charCodeAt(i) - 48) * weights[k][i];
      var r = sum % 11;
      var check = r < 2 ? 0 : 11 - r;
      if (check !== Number(d[12 + k])) return false;
    }
    return true;
  }

  function format(d) {
    if (d.length === 11) return d.slice(0, 3) + "." + d.slice(3, 6) + "." + d.slice(6, 9) + "-" + d.slice(9);
    if (d.length === 14) return d.slice(0, 2) + "." + d.slice(2, 5) + "." + d.slice(5, 8) + "/" + d.slice(8, 12) + "-" + d.slice(12);
    return d;
  }

  function checkDocument(input, final) {
    var live = document.getElementById(input.id + "-live");
    var d = bare(input.value);
    var message = "", valid = null;
    if (d.length === 11) valid = cpfValid(d);
    else if (d.length === 14) valid = cnpjValid(d);
    else if (final && d.length > 0) valid = false;
    if (valid === true) message = "✓ " + text.ok;
    else if (valid === false) message = (d.length === 11 || d.length === 14) ? text.bad : text.length;
    if (live) {
      live.textContent = message;
      live.className = "live" + (valid === true ? " ok" : valid === false ? " bad" : "");
    }
    if (valid === false) input.setAttribute("aria-invalid", "true");
    else if (valid === true) input.removeAttribute("aria-invalid");
    if (final && valid) input.value = format(d);
  }

  document.querySelectorAll("input[data-document]").forEach(function (input) {
    input.addEventListener("input", function () { checkDocument(input, false); });
    input.addEventListener("blur", function () { checkDocument(input, true); });
  });

  // Amounts the Brazilian way, exactly as the server reads them (domain/src/money.rs): the comma
  // is the only decimal separator (1 or 2 digits after it) and points group thousands in threes:
  // "1.234,56", "1234,56", "1234", "R$ 10". "12,345" and "1234.56" are not amounts.
  function parseAmount(value) {
    var t = value.trim().replace(/^R\$\s*/, "");
    var m = t.match(/^(\d{1,3}(?:\.\d{3})+|\d*)(?:,(\d{1,2}))?$/);
    if (!t || !m || (m[1] === "" && m[2] === undefined)) return null;
    var whole = m[1].replace(/\./g, ""), fraction = m[2] || "";
    return Number(whole || "0") * 100 + (fraction.length === 1 ? Number(fraction) * 10 : Number(fraction || "0"));
  }

  function formatCents(cents) {
    var reais = Math.floor(cents / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    return "R$ " + reais + "," + String(cents % 100).padStart(2, "0");
  }

  // Amount fields read like a currency: on leaving the field, a valid amount is written back
  // in full ("1234,5" -> "1.234,50"), so what is sent is what the customer saw.
  document.addEventListener("focusout", function (event) {
    var input = event.target;
    if (!input.hasAttribute || !input.hasAttribute("data-amount")) return;
    var cents = parseAmount(input.value);
    if (cents !== null) input.value = formatCents(cents).replace(/^R\$ /, "");
  });

  // After a form comes back with errors, focus moves to their summary (read out first).
  var summary = document.getElementById("form-errors");
  if (summary) {
    summary.setAttribute("tabindex", "-1");
    summary.focus();
  }

  var rows = document.querySelector(".source-rows");
  if (rows) {
    var add = document.getElementById("add-row");
    var totalBox = document.querySelector(".running-total");
    var total = document.getElementById("running-total");
    var max = Number(rows.getAttribute("data-max-rows")) || 3;
    var update = function () {
      var sum = 0;
      rows.querySelectorAll("input[data-amount]").forEach(function (input) {
        var cents = parseAmount(input.value);
        if (cents) sum += cents;
      });
      total.textContent = formatCents(sum);
    };
    rows.addEventListener("input", update);
    // Each row's account list shows the accounts at the bank chosen on that row.
    var filterAccounts = function (row) {
      var bank = row.querySelector("select[data-bank-select]");
      var account = row.querySelector("select[data-account-select]");
      if (!bank || !account) return;
      account.querySelectorAll("optgroup").forEach(function (group) {
        var match = group.getAttribute("data-bank") === bank.value;
        group.hidden = !match;
        group.disabled = !match;
      });
      var chosen = account.options[account.selectedIndex];
      if (chosen && chosen.parentNode.tagName === "OPTGROUP" && chosen.parentNode.disabled) account.selectedIndex = 0;
    };
    rows.querySelectorAll(".source-row").forEach(filterAccounts);
    rows.addEventListener("change", function (event) {
      if (event.target.hasAttribute("data-bank-select")) filterAccounts(event.target.closest(".source-row"));
    });
    totalBox.hidden = false;
    update();
    add.hidden = false;
    add.addEventListener("click", function () {
      var all = rows.querySelectorAll(".source-row");
      if (all.length >= max) return;
      var last = all[all.length - 1];
      var next = Number(last.getAttribute("data-row")) + 1;
      var copy = last.cloneNode(true);
      copy.setAttribute("data-row", String(next));
      copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
      copy.querySelectorAll("[id]").forEach(function (e) { e.id = e.id.replace(/_\d+$/, "_" + next); });
      copy.querySelectorAll("[name]").forEach(function (e) {
        e.name = e.name.replace(/_\d+$/, "_" + next);
        e.removeAttribute("aria-invalid");
        e.removeAttribute("aria-describedby");
        if (e.tagName === "INPUT") e.value = "";
        else if (e.hasAttribute("data-home")) e.value = e.getAttribute("data-home");
        else e.selectedIndex = 0;
      });
      filterAccounts(copy);
      copy.querySelectorAll("label").forEach(function (l) {
        l.htmlFor = l.htmlFor.replace(/_\d+$/, "_" + next);
        l.textContent = l.textContent.replace(/\d+/, String(next));
      });
      rows.appendChild(copy);
      if (all.length + 1 >= max) add.hidden = true;
      copy.querySelector("select").focus();
    });
  }

  // A pending receipt polls its status (the page also refreshes itself without JS).
  var receipt = document.querySelector("[data-status-url]");
  if (receipt && receipt.getAttribute("data-status") === "pending") {
    var tries = 0;
    var poll = function () {
      tries += 1;
      fetch(receipt.getAttribute("data-status-url"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s && s.status !== "pending") { window.location.reload(); return; }
          if (s) document.getElementById("status").textContent = s.status_label;
          if (tries < 600) setTimeout(poll, 1500);
        })
        .catch(function () { if (tries < 600) setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1500);
  }
  // Idle sign-out (the server signs a session out after data-idle-seconds without a page):
  // a warning shortly before, with "stay signed in" (GET /keepalive); at the limit, this page
  // is asked again, and the server sends it to the sign-in page, which comes back here.
  var idle = Number(document.body.getAttribute("data-idle-seconds")) || 0;
  var warnBox = document.getElementById("idle-warning");
  if (idle > 0 && warnBox) {
    var lead = Number(document.body.getAttribute("data-idle-warn-seconds")) || 60;
    var warnTimer, endTimer;
    var arm = function () {
      clearTimeout(warnTimer);
      clearTimeout(endTimer);
      warnBox.hidden = true;
      warnTimer = setTimeout(function () {
        warnBox.hidden = false;
        document.getElementById("idle-stay").focus();
      }, Math.max(0, idle - lead) * 1000);
      endTimer = setTimeout(function () { window.location.reload(); }, (idle + 1) * 1000);
    };
    document.getElementById("idle-stay").addEventListener("click", function () {
      fetch("/keepalive", { credentials: "same-origin", redirect: "manual" }).then(function (response) {
        if (response.status === 204) arm();
        else window.location.reload();
      });
    });
    arm();
  }
  // The comprovante's print button (the print stylesheet makes it one clean page).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
