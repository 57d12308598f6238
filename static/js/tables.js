/* Tables that become cards on phones: every cell of a table.grid gets its column's heading as
   data-label, and the table the class "stackable"; under 600 px static/css/nuage.css lays each
   row out as a card with the labels in front of the values. Tables that live regions re-render
   (static/js/live.js) are labelled again as they arrive. */
(function () {
  "use strict";
  // Column names from a heading of one or more rows (rowspan, colspan): "CPU · allocated".
  function columnNames(thead) {
    var grid = [];
    Array.prototype.forEach.call(thead.rows, function (row, r) {
      grid[r] = grid[r] || [];
      var c = 0;
      Array.prototype.forEach.call(row.cells, function (th) {
        while (grid[r][c] !== undefined) { c++; }
        for (var dr = 0; dr < (th.rowSpan || 1); dr++) {
          grid[r + dr] = grid[r + dr] || [];
          for (var dc = 0; dc < (th.colSpan || 1); dc++) { grid[r + dr][c + dc] = th; }
        }
        c += th.colSpan || 1;
      });
    });
    var names = [];
    (grid[0] || []).forEach(function (_, col) {
      var parts = [];
      grid.forEach(function (row) {
        var th = row[col];
        if (th && parts.indexOf(th) === -1) { parts.push(th); }
      });
      names[col] = parts.map(function (th) { return th.textContent.trim(); })
        .filter(Boolean).join(" · ");
    });
    return names;
  }
  function label(table) {
    // data-cards-own: the page lays its table out as cards itself (the approvals queue).
    if (!table.tHead || table.hasAttribute("data-cards-own")) { return; }
    var names = columnNames(table.tHead);
    var bodies = Array.prototype.slice.call(table.tBodies);
    if (table.tFoot) { bodies.push(table.tFoot); }
    bodies.forEach(function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute("data-label") && cell.colSpan === 1 && names[col]) {
            cell.setAttribute("data-label", names[col]);
          }
          col += cell.colSpan || 1;
        });
      });
    });
    table.classList.add("stackable");
  }
  function labelAll() {
    Array.prototype.forEach.call(document.querySelectorAll("table.grid"), label);
    // A table wider than its box scrolls inside it: keyboard users must reach it too.
    Array.prototype.forEach.call(document.querySelectorAll(".table-scroll, .table-wrap"), function (box) {
      if (box.scrollWidth > box.clientWidth) { box.tabIndex = 0; } else { box.removeAttribute("tabindex"); }
    });
  }
  var pending = false;
  function soon() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; labelAll(); });
  }
  labelAll();
  new MutationObserver(soon).observe(document.querySelector("main") || document.body,
    { childList: true, subtree: true });
})();
