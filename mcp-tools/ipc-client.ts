// The IPC client the MCP tools use. Its one implementation lives in lib/ (node built-ins and zod
// only) because the operator's `traffic-guardian status` speaks the same protocol; the container side
// imports it from here so the MCP layer has a single door to the host.
export { IpcClient, IpcError, type IpcClientOptions } from '../lib/ipc-client.js';
