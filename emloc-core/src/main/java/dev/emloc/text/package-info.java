/**
 * Text side of the engine: the Qwen tokenizer ({@link dev.emloc.text.QwenTokenizer}), the chat template
 * ({@link dev.emloc.text.ChatFormat}), streaming detokenization ({@link dev.emloc.text.IncrementalDetokenizer}) and a
 * tiny tokenizer for generated test checkpoints ({@link dev.emloc.text.TinyTokenizerJson}).
 */
package dev.emloc.text;
