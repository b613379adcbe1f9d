// Reads the protocol's JSON Schema (scripts/protocol.py) on stdin and writes the TypeScript types to argv[2].
import { readFileSync, writeFileSync } from "node:fs";
import { compile } from "json-schema-to-typescript";

const BANNER = `/**
 * The WebSocket protocol's message types, generated from annotator/messages.py by \`make protocol\`.
 * Do not edit: change the pydantic models and regenerate (tests/test_protocol.py fails when this is stale).
 */`;

// Not expressible in JSON Schema: the server message of one type.
const HELPERS = `
/** The server message whose \`type\` is \`T\`. */
export type ServerMessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;
`;

const schema = JSON.parse(readFileSync(0, "utf8"));
const ts = await compile(schema, "Message", {
  bannerComment: BANNER,
  additionalProperties: false,
  unreachableDefinitions: false,
  strictIndexSignatures: true,
  style: { printWidth: 120 },
});
writeFileSync(process.argv[2], ts + HELPERS);
