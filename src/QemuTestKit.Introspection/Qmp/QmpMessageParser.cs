using System.Text.Json;
using System.Text.Json.Nodes;

namespace QemuTestKit.Introspection.Qmp;

/// <summary>Reads the fixed envelope of QMP messages (greeting, event, error, id) from parsed JSON.</summary>
internal static class QmpMessageParser
{
    public static QmpGreeting ParseGreeting(JsonObject message, string preview)
    {
        if (message["QMP"] is not JsonObject qmp || qmp["version"] is not JsonObject versionInfo || versionInfo["qemu"] is not JsonObject version)
        {
            throw new QmpProtocolException($"the peer did not start with a QMP greeting (expected {{\"QMP\": {{\"version\": ...}}}}), it sent {preview}");
        }

        try
        {
            var capabilities = (qmp["capabilities"] as JsonArray)?.Select(c => c?.GetValue<string>() ?? string.Empty).ToArray() ?? [];
            return new QmpGreeting(
                version["major"]?.GetValue<int>() ?? 0,
                version["minor"]?.GetValue<int>() ?? 0,
                version["micro"]?.GetValue<int>() ?? 0,
                versionInfo["package"]?.GetValue<string>() ?? string.Empty,
                capabilities);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw new QmpProtocolException($"the QMP greeting has fields of the wrong type: {preview}", e);
        }
    }

    public static QmpEvent ParseEvent(JsonObject message, JsonNode? name, string preview)
    {
        try
        {
            var timestamp = message["timestamp"] is JsonObject ts
                ? DateTimeOffset.FromUnixTimeMilliseconds(0)
                    .AddSeconds(ts["seconds"]?.GetValue<long>() ?? 0)
                    .AddTicks((ts["microseconds"]?.GetValue<long>() ?? 0) * 10)
                : DateTimeOffset.UtcNow;
            var data = message["data"] switch
            {
                null => null,
                JsonObject o => (JsonObject)o.DeepClone(),
                _ => throw new InvalidOperationException("'data' is not an object"),
            };
            return new QmpEvent(name?.GetValue<string>() ?? string.Empty, data, timestamp, 0, DateTimeOffset.UtcNow);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentOutOfRangeException)
        {
            throw new QmpProtocolException($"a QMP event has fields of the wrong type: {preview}", e);
        }
    }

    public static long? ReadId(JsonObject message)
    {
        if (!message.TryGetPropertyValue("id", out var id) || id is not JsonValue value)
        {
            return null;
        }

        return value.TryGetValue<long>(out var number) ? number : null;
    }

    public static (string ErrorClass, string Description) ParseError(JsonNode? error, string preview)
    {
        if (error is not JsonObject fields)
        {
            throw new QmpProtocolException($"a QMP error answer has an 'error' that is not an object: {preview}");
        }

        var errorClass = fields["class"] is JsonValue c && c.TryGetValue<string>(out var cls) ? cls : "UnknownError";
        var desc = fields["desc"] is JsonValue d && d.TryGetValue<string>(out var text) ? text : fields.ToJsonString();
        return (errorClass, desc);
    }
}
