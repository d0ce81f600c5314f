// The LLM gateway's public surface. The runtime starts it with gatewayService (gateway.service.ts).
export { GatewayHandler, type HandlerDeps } from './handler.js';
export { GATEWAY_ROUTES } from './endpoints.js';
export { RESPONSES_SOCKET_PATH, SOCKETS_PER_AGENT } from './responses-socket.js';
export { promptTokensOf } from './wire/wires.js';
export { providerRoutes } from './providers.routes.js';
export { PROVIDER_CLASSIFY, providerBreakers, type ProviderBreakers } from './breakers.js';
export { Meter, type MeterDeps } from './meter.js';
export { Router } from './router.js';
export type { GuardResult, OutputGuard, SlotKind, StreamGuard } from './guard.js';
export { HttpProvider } from './providers/http.js';
export { SimulatedProvider } from './providers/simulated.js';
export type { Provider, ProviderName, UpstreamCall, UpstreamResponse } from './providers/types.js';
export { gatewayService, type GatewayDeps } from './gateway.service.js';
export type { AnswerPolicy } from './held-calls.js';
