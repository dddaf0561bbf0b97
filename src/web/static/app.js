// Click a column header to sort a table (pages work without it: the server sorts too).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.classList.add("sortable-col");
      th.title = "点击排序";
      var asc = false;
      th.addEventListener("click", function () {
        asc = !asc;
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var num = th.classList.contains("num");
        rows.sort(function (a, b) {
          var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
          var c = num ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y, "zh-CN");
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
});
