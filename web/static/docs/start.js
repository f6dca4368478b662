// Starts Swagger UI on /docs from a file, so the page needs no inline script (the CSP
// forbids it) and, with Swagger UI served by the app itself, no network either.
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
