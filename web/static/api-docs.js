/* /api/docs: Swagger UI over /api/openapi.json (no inline script: the Content-Security-Policy allows none). */
(function () {
  var box = document.getElementById('swagger-ui');
  window.SwaggerUIBundle({url: box.dataset.url, domNode: box, deepLinking: true});
})();
