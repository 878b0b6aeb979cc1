// Shows each server-rendered UTC time in the viewer's time zone; without JavaScript the UTC
// text stays, and the exact instant remains in the title.
(function () {
  var format = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', timeZoneName: 'short'
  });
  document.querySelectorAll('time[datetime]').forEach(function (el) {
    var at = new Date(el.getAttribute('datetime'));
    if (isNaN(at.getTime())) return;
    el.title = el.getAttribute('datetime');
    el.textContent = format.format(at);
    el.setAttribute('data-local', '');
  });
})();
