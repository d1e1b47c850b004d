// Swagger UI (vendored) over /openapi.json, with "Try it out" on and the console's key sent.
"use strict";
header("/docs");
SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger",
  tryItOutEnabled: true,
  deepLinking: true,
  requestInterceptor: (request) => { Object.assign(request.headers, headers()); return request; },
  responseInterceptor: (response) => { if (response.status === 401) askForKey(); return response; },
});
