/**
 * Spring AI integration of the EMLoC engine: {@link dev.emloc.spring.ai.EmlocChatModel} (a local multimodal
 * {@code ChatModel}) with {@link dev.emloc.spring.ai.EmlocChatOptions}, the few-shot adapter API
 * {@link dev.emloc.spring.ai.TaskAdapters} (teach, append, describe, list, forget task memories),
 * {@link dev.emloc.spring.ai.TaskMemoryAdvisor} for {@code ChatClient}, and
 * {@link dev.emloc.spring.ai.DemonstrationFiles} to read demonstrations from JSONL. See docs/spring-ai.md.
 */
package dev.emloc.spring.ai;
