"""`refiner mcp`: Refiner's ten operations and the warehouse as tools for MCP clients (agents).

Modules: `settings` (scopes, the token and the audit log path), `audit` (one JSON line per
call, and the middleware that enforces scopes), `refiner_tools` and `warehouse_tools` (the
tool functions), `server` (the MCPServer, its transports and bearer auth), `audit_load` (the
dlt resource that loads the audit log). The `mcp` SDK is imported by the tool and server
modules, which only `refiner mcp` loads; `settings`, `audit` and `audit_load` do not import
it when they are imported.
"""
