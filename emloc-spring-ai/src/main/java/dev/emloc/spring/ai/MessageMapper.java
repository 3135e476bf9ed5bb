package dev.emloc.spring.ai;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URL;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.ToolResponseMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.content.Media;
import org.springframework.core.io.Resource;
import org.springframework.util.MimeType;

/**
 * Spring AI messages to the engine's {@link ChatMessage}s: system, user (text and images) and assistant turns in
 * order. A user turn's images come first, then its text, as Qwen2-VL's own examples and our demonstrations do.
 *
 * <p>Image media is taken as bytes ({@code byte[]}, a {@link Resource} read here, or a {@code data:} URI with base64
 * content). A URL is never fetched: media naming one is refused, so a client cannot make the server download
 * anything or read its files.
 */
final class MessageMapper {

    /** Protocols of resources inside the application (files, jars); anything else is remote and refused. */
    /** A URI scheme followed by ':' ("https:", "file:", "s3:"), or a protocol-relative "//host". */
    private static final Pattern URL_LIKE = Pattern.compile("\\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//)");

    private static final Set<String> LOCAL_PROTOCOLS = Set.of("file", "jar", "zip", "wsjar", "vfs", "vfsfile", "vfszip",
            "resource");

    private final long maxImageBytes;

    MessageMapper(long maxImageBytes) {
        this.maxImageBytes = maxImageBytes;
    }

    /**
     * The conversation of {@code messages}.
     *
     * @throws EmlocRequestException for tool messages, tool calls, media that is not an image, remote or oversized
     *                               media, or an empty conversation
     */
    List<ChatMessage> toChatMessages(List<Message> messages) {
        if (messages == null || messages.isEmpty()) {
            throw new EmlocRequestException("The prompt has no messages; send at least one user message");
        }
        List<ChatMessage> converted = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            Message message = messages.get(i);
            if (message instanceof ToolResponseMessage) {
                throw new EmlocRequestException("Message " + i + " is a tool response, but EmlocChatModel does not call"
                        + " tools: remove the tools from the request (ChatClient .tools(...) / toolCallbacks) and the tool"
                        + " messages from the conversation");
            } else if (message instanceof SystemMessage system) {
                converted.add(ChatMessage.system(text(system)));
            } else if (message instanceof AssistantMessage assistant) {
                if (assistant.hasToolCalls()) {
                    throw new EmlocRequestException("Message " + i + " is an assistant turn with tool calls, but"
                            + " EmlocChatModel does not call tools; remove tool calls from the conversation history");
                }
                converted.add(ChatMessage.assistant(text(assistant)));
            } else if (message instanceof UserMessage user) {
                converted.add(user(i, user));
            } else {
                throw new EmlocRequestException("Message " + i + " has type " + message.getMessageType()
                        + ", which EmlocChatModel does not handle; use system, user and assistant messages");
            }
        }
        return converted;
    }

    private ChatMessage user(int index, UserMessage message) {
        List<ContentPart> parts = new ArrayList<>();
        List<Media> media = message.getMedia();
        for (int m = 0; m < media.size(); m++) {
            parts.add(ContentPart.image(imageBytes(index, m, media.get(m))));
        }
        String text = text(message);
        if (!text.isEmpty() || parts.isEmpty()) {
            parts.add(ContentPart.text(text));
        }
        return new ChatMessage(ChatMessage.Role.USER, parts);
    }

    private static String text(Message message) {
        return message.getText() == null ? "" : message.getText();
    }

    private byte[] imageBytes(int message, int index, Media media) {
        String where = "Media " + index + " of message " + message;
        MimeType type = media.getMimeType();
        if (type == null || !"image".equals(type.getType())) {
            throw new EmlocRequestException(where + " has MIME type " + type + "; EmlocChatModel takes images only"
                    + " (image/png, image/jpeg, image/gif, image/bmp)");
        }
        Object data = media.getData();
        byte[] bytes;
        if (data instanceof byte[] array) {
            bytes = array;
        } else if (data instanceof Resource resource) {
            bytes = read(where, resource);
        } else if (data instanceof String string && string.regionMatches(true, 0, "data:", 0, 5)) {
            bytes = dataUri(where, string);
        } else if (data instanceof URL || data instanceof URI
                || data instanceof String string && URL_LIKE.matcher(string).lookingAt()) {
            throw new EmlocRequestException(where + " is a URL (" + abbreviate(String.valueOf(data)) + "); EmlocChatModel"
                    + " never fetches remote content. Read the image yourself and pass its bytes: Media.builder()"
                    + ".mimeType(...).data(bytes) or a Resource, or a data:image/...;base64 URI");
        } else if (data instanceof String) {
            throw new EmlocRequestException(where + " is a string that is neither bytes nor a data: URI; pass the image"
                    + " as byte[] or a Resource, or base64 as data:image/png;base64,...");
        } else {
            throw new EmlocRequestException(where + " holds " + (data == null ? "no data" : data.getClass().getName())
                    + "; pass the image as byte[], a Resource or a data: URI");
        }
        if (bytes.length == 0) {
            throw new EmlocRequestException(where + " is empty; pass the encoded image bytes");
        }
        requireSize(where, bytes.length);
        return bytes;
    }

    private byte[] read(String where, Resource resource) {
        try {
            URL url = resource.getURL();
            if (!LOCAL_PROTOCOLS.contains(url.getProtocol().toLowerCase(Locale.ROOT))) {
                throw new EmlocRequestException(where + " is a resource at " + abbreviate(url.toString())
                        + "; EmlocChatModel never fetches remote content. Download it yourself and pass the bytes");
            }
        } catch (IOException notUrlBacked) {
            // in-memory and stream resources have no URL: nothing remote to refuse
        }
        try (InputStream in = resource.getInputStream()) {
            byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxImageBytes + 1));
            requireSize(where, bytes.length);
            return bytes;
        } catch (IOException e) {
            throw new EmlocRequestException(where + ": could not read " + resource.getDescription() + " (" + e.getMessage()
                    + ")", e);
        }
    }

    private byte[] dataUri(String where, String uri) {
        int comma = uri.indexOf(',');
        if (comma < 0 || !uri.substring(0, comma).toLowerCase(Locale.ROOT).endsWith(";base64")) {
            throw new EmlocRequestException(where + " is a data: URI without base64 content; use data:image/png;base64,...");
        }
        long decoded = (uri.length() - comma - 1) / 4L * 3;
        requireSize(where, decoded);
        try {
            return Base64.getMimeDecoder().decode(uri.substring(comma + 1));
        } catch (IllegalArgumentException e) {
            throw new EmlocRequestException(where + " is a data: URI whose base64 content is invalid (" + e.getMessage() + ")");
        }
    }

    private void requireSize(String where, long bytes) {
        if (bytes > maxImageBytes) {
            throw new EmlocRequestException(where + " is larger than the limit of " + maxImageBytes + " bytes; send a"
                    + " smaller image or raise the chat model's maxImageBytes");
        }
    }

    private static String abbreviate(String value) {
        return value.length() <= 80 ? value : value.substring(0, 80) + "…";
    }
}
