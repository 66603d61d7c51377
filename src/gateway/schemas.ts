import { z } from 'zod';
import { KeelError } from '../errors.ts';
import { fromZodError } from './errors.ts';

/**
 * Request bodies of the HTTP API. OpenAI-compatible bodies are loose objects: parameters Keel does
 * not know are kept and forwarded to OpenAI-compatible upstreams unchanged.
 */

const ContentPartSchema = z.looseObject({ type: z.string().min(1) });

const ToolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

export const ChatMessageSchema = z
  .looseObject({
    role: z.enum(['system', 'user', 'assistant', 'tool', 'developer']),
    content: z
      .union(
        [z.string(), z.array(ContentPartSchema), z.null()],
        'expected a string, an array of content parts, or null',
      )
      .optional(),
    name: z.string().optional(),
    tool_calls: z.array(ToolCallSchema).optional(),
    tool_call_id: z.string().optional(),
  })
  .superRefine((m, ctx) => {
    // OpenAI's rules per role: only an assistant turn that calls tools may come without content, and
    // a tool result names the call it answers. Caught here, a malformed turn is a 400 naming the
    // field instead of an upstream's error, or a question an app silently reads as empty.
    const empty = m.content === undefined || m.content === null;
    if (m.role === 'assistant') {
      if (empty && !m.tool_calls?.length && m.function_call === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['content'],
          message: 'an assistant message needs content or tool_calls',
        });
      }
      return;
    }
    if (empty) {
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        message: `a ${m.role} message needs content (a string or an array of content parts)`,
      });
    }
    if (m.role === 'tool' && m.tool_call_id === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tool_call_id'],
        message: 'a tool message needs the tool_call_id of the call it answers',
      });
    }
  });

const ToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

export const ChatCompletionBodySchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(ChatMessageSchema).min(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  tools: z.array(ToolSchema).optional(),
  tool_choice: z.unknown().optional(),
  response_format: z
    .looseObject({
      type: z.enum(['text', 'json_object', 'json_schema']),
      json_schema: z
        .looseObject({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()).optional() })
        .optional(),
    })
    .optional(),
  seed: z.number().int().nullable().optional(),
  user: z.string().optional(),
});
export type ChatCompletionBody = z.infer<typeof ChatCompletionBodySchema>;

export const EmbeddingsBodySchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([
    z.string(),
    z
      .array(z.string(), 'input must be a string or an array of strings (token arrays are not supported)')
      .min(1),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
  user: z.string().optional(),
});
export type EmbeddingsBody = z.infer<typeof EmbeddingsBodySchema>;

const NameSchema = z.string().regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'letters, digits, ".", "_" or "-" (max 64)');

export const CreateKeyBodySchema = z.strictObject({
  tenant: NameSchema.optional(),
  user: z.string().max(200).optional(),
  name: z.string().max(200).optional(),
  role: z.enum(['admin', 'member']).optional(),
  allowed_models: z.array(z.string().min(1)).nullable().optional(),
});
export type CreateKeyBody = z.infer<typeof CreateKeyBodySchema>;

export const CollectionNameSchema = NameSchema;

export const IngestBodySchema = z.strictObject({
  documents: z
    .array(
      z
        .strictObject({
          id: z.string().min(1).max(500).optional(),
          title: z.string().max(1000).optional(),
          uri: z.string().max(2000).optional(),
          format: z.enum(['md', 'txt', 'html', 'csv', 'pdf', 'docx']).optional(),
          text: z.string().optional(),
          content_base64: z.base64().optional(),
          metadata: z.record(z.string(), z.unknown()).optional(),
        })
        .refine((d) => (d.text === undefined) !== (d.content_base64 === undefined), {
          message: 'give exactly one of text or content_base64',
        }),
    )
    .min(1),
});
export type IngestBody = z.infer<typeof IngestBodySchema>;

/** Parses `value` or throws a 400 `KeelError` naming the first bad field in `param`. */
/** Validates a query string (absent means empty); a bad parameter is a 400 naming it. */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const r = schema.safeParse(query ?? {});
  if (!r.success) throw fromZodError(r.error);
  return r.data;
}

export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  if (value === undefined || value === null) {
    throw new KeelError(
      'invalid_request',
      'A JSON request body is required (Content-Type: application/json)',
    );
  }
  const r = schema.safeParse(value);
  if (!r.success) throw fromZodError(r.error);
  return r.data;
}
