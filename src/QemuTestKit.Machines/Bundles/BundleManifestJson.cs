using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// Reads and writes <c>bundle.json</c>. Reading checks, in this order, that the text is whole JSON, that it is a
/// QemuTestKit replay manifest (<c>kind</c>), that its schema is one this version reads, that every required field is
/// there with the right type, and that every path it names stays inside the bundle. Each failure is a
/// <see cref="ReplayBundleException"/> with one line naming the bundle.
/// </summary>
public static class BundleManifestJson
{
    /// <summary>The largest bundle.json read; a manifest is a few KiB, anything near this is not one.</summary>
    public const int MaxManifestBytes = 64 << 20;

    internal const string Recover = "restore the bundle from a good copy or record the run again";

    /// <summary>bundle.json's text: indented, camelCase, nulls left out, quotes and '+' unescaped (people read it).</summary>
    public static string Serialize(BundleManifest manifest) =>
        JsonSerializer.Serialize(manifest, Readable.BundleManifest);

    /// <summary>The manifest's source-generated context with an encoder that escapes only what JSON requires.</summary>
    private static readonly BundleJsonContext Readable = new(new JsonSerializerOptions(BundleJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Parses and checks bundle.json's bytes. <paramref name="bundle"/> names the bundle in messages.</summary>
    /// <exception cref="ReplayBundleException">The manifest is truncated, malformed, foreign, newer, incomplete or unsafe.</exception>
    public static BundleManifest Parse(ReadOnlySpan<byte> utf8, string bundle)
    {
        if (utf8.StartsWith(Utf8Bom))
        {
            utf8 = utf8[Utf8Bom.Length..];
        }

        if (utf8.IsEmpty || utf8.Trim(Whitespace).IsEmpty)
        {
            throw Damaged(ReplayBundleError.Truncated, bundle, "bundle.json is empty (truncated)");
        }

        if (!Utf8.IsValid(utf8))
        {
            // A write cut in the middle of a multi-byte character is a truncation; invalid bytes anywhere else are not.
            for (var cut = 1; cut <= 3 && cut < utf8.Length; cut++)
            {
                if (Utf8.IsValid(utf8[..^cut]) && EndsInsideDocument(utf8[..^cut]))
                {
                    throw Damaged(ReplayBundleError.Truncated, bundle,
                        string.Create(CultureInfo.InvariantCulture, $"bundle.json is truncated (it ends after {utf8.Length} bytes, in the middle of the JSON)"));
                }
            }

            throw Damaged(ReplayBundleError.Malformed, bundle, "bundle.json is not valid JSON (it is not UTF-8 text)");
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
            Materialize(root);
        }
        catch (ArgumentException e)
        {
            // JsonObject refuses a property name given twice when it first builds its dictionary.
            throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json is not valid JSON (a property is given twice: {e.Message.Split('\n')[0]})", e);
        }
        catch (JsonException e)
        {
            if (EndsInsideDocument(utf8))
            {
                throw Damaged(ReplayBundleError.Truncated, bundle,
                    string.Create(CultureInfo.InvariantCulture, $"bundle.json is truncated (it ends after {utf8.Length} bytes, in the middle of the JSON)"), e);
            }

            throw Damaged(ReplayBundleError.Malformed, bundle,
                string.Create(CultureInfo.InvariantCulture, $"bundle.json is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})"), e);
        }

        if (root is not JsonObject given)
        {
            throw new ReplayBundleException(ReplayBundleError.Foreign, bundle,
                $"'{bundle}' is a foreign bundle: its bundle.json is not a QemuTestKit replay manifest (not a JSON object); only bundles written by qemutestkit can be read");
        }

        CheckKind(given, bundle);
        CheckSchema(given, bundle);
        foreach (var required in RequiredFields)
        {
            if (given[required] is null)
            {
                throw Missing(bundle, required);
            }
        }

        if (given["spec"] is not JsonObject spec)
        {
            throw Damaged(ReplayBundleError.Malformed, bundle, "bundle.json's 'spec' is not a JSON object");
        }

        foreach (var required in RequiredSpecFields)
        {
            if (spec[required] is null)
            {
                throw Missing(bundle, "spec." + required);
            }
        }

        // The source generator sets every absent init-only property to default(T) (dotnet/runtime#84484), which would
        // turn an omitted list into null and an omitted icountShift into 0: lay the given fields over a serialized
        // default manifest so every property is present and the record's own defaults survive.
        var merged = JsonSerializer.SerializeToNode(Defaults, BundleJsonContext.Default.BundleManifest)!.AsObject();
        foreach (var (key, value) in given)
        {
            merged[key] = value?.DeepClone();
        }

        BundleManifest manifest;
        MachineSpec machineSpec;
        try
        {
            manifest = merged.Deserialize(BundleJsonContext.Default.BundleManifest)
                ?? throw Damaged(ReplayBundleError.Malformed, bundle, "bundle.json is null");
        }
        catch (JsonException e)
        {
            throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json has a value of the wrong type at {Where(e)}", e);
        }

        try
        {
            machineSpec = MachineSpecJson.Deserialize(spec.ToJsonString(), "spec");
        }
        catch (MachineSpecFormatException e)
        {
            var where = e.InnerException is JsonException json ? Where(json) : "spec";
            throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json has a value of the wrong type at {(where.StartsWith("$.", StringComparison.Ordinal) ? "$.spec." + where[2..] : where)}", e);
        }

        manifest = Normalize(manifest with { Spec = machineSpec });
        Check(manifest, bundle);
        return manifest;
    }

    private static readonly byte[] Utf8Bom = [0xEF, 0xBB, 0xBF];
    private static readonly byte[] Whitespace = " \t\r\n"u8.ToArray();
    private static readonly string[] RequiredFields = ["qemu", "spec", "replayArguments", "transcript"];
    private static readonly string[] RequiredSpecFields = ["name", "machineType"];

    private static readonly BundleManifest Defaults = new()
    {
        Qemu = new QemuBuild("", "", "", ""),
        Spec = new MachineSpec { Name = "default", MachineType = "default" },
        ReplayArguments = [],
        Transcript = new BundleTranscript("", 0, ""),
    };

    private static void CheckKind(JsonObject given, string bundle)
    {
        var kind = given["kind"] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
        if (kind == BundleManifest.KindValue)
        {
            return;
        }

        var what = kind is null ? "has no 'kind'" : $"has kind '{kind}'";
        throw new ReplayBundleException(ReplayBundleError.Foreign, bundle,
            $"'{bundle}' is a foreign bundle: its bundle.json {what}, not '{BundleManifest.KindValue}'; only bundles written by qemutestkit can be read");
    }

    private static void CheckSchema(JsonObject given, string bundle)
    {
        if (given["schemaVersion"] is not JsonValue value)
        {
            throw Missing(bundle, "schemaVersion");
        }

        if (!value.TryGetValue<int>(out var version) || version < 1)
        {
            throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json's schemaVersion {value.ToJsonString()} is not a schema version");
        }

        if (version > BundleManifest.CurrentSchemaVersion)
        {
            throw new ReplayBundleException(ReplayBundleError.NewerSchema, bundle, string.Create(CultureInfo.InvariantCulture,
                $"replay bundle '{bundle}' was written by a newer QemuTestKit (schema {version}, this reads up to {BundleManifest.CurrentSchemaVersion}): upgrade qemutestkit"));
        }
    }

    private static BundleManifest Normalize(BundleManifest m) => m with
    {
        Kind = m.Kind ?? BundleManifest.KindValue,
        Qemu = m.Qemu with { Package = m.Qemu.Package ?? string.Empty },
        ReplayArguments = m.ReplayArguments ?? [],
        Checkpoints = m.Checkpoints ?? [],
        Timings = m.Timings ?? new BundleTimings(),
        Files = m.Files ?? [],
        ExternalFiles = m.ExternalFiles ?? [],
    };

    /// <summary>Every field a reader relies on is present, sizes are sane, and every path stays inside the bundle.</summary>
    private static void Check(BundleManifest m, string bundle)
    {
        Require(bundle, m.Qemu.Version, "qemu.version");
        Require(bundle, m.Qemu.Binary, "qemu.binary");
        Require(bundle, m.Qemu.Sha256, "qemu.sha256");
        if (m.Test is not null)
        {
            Require(bundle, m.Test.Name, "test.name");
        }

        for (var i = 0; i < m.ReplayArguments.Count; i++)
        {
            if (m.ReplayArguments[i] is null)
            {
                throw Missing(bundle, Index("replayArguments", i));
            }
        }

        for (var i = 0; i < m.Checkpoints.Count; i++)
        {
            Require(bundle, m.Checkpoints[i]?.Name, Index("checkpoints", i) + ".name");
            if (m.Checkpoints[i].Icount < 0 || m.Checkpoints[i].TranscriptOffset < 0)
            {
                throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json's {Index("checkpoints", i)} has a negative icount or transcript offset");
            }
        }

        Require(bundle, m.Transcript.File, "transcript.file");
        Require(bundle, m.Transcript.Sha256, "transcript.sha256");
        if (m.Transcript.Length < 0)
        {
            throw Damaged(ReplayBundleError.Malformed, bundle, "bundle.json's transcript.length is negative");
        }

        SafePath(bundle, m.Transcript.File, "transcript.file");
        if (m.Transcript.ChunksFile is not null)
        {
            SafePath(bundle, m.Transcript.ChunksFile, "transcript.chunksFile");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < m.Files.Count; i++)
        {
            var field = Index("files", i);
            var file = m.Files[i] ?? throw Missing(bundle, field);
            Require(bundle, file.Path, field + ".path");
            Require(bundle, file.Sha256, field + ".sha256");
            Require(bundle, file.Role, field + ".role");
            SafePath(bundle, file.Path, field + ".path");
            if (!BundleHashing.IsSha256(file.Sha256) || file.Size < 0)
            {
                throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json's {field} ('{file.Path}') has a bad size or sha256");
            }

            if (!seen.Add(file.Path))
            {
                throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json lists '{file.Path}' twice");
            }
        }

        for (var i = 0; i < m.ExternalFiles.Count; i++)
        {
            var field = Index("externalFiles", i);
            var file = m.ExternalFiles[i] ?? throw Missing(bundle, field);
            Require(bundle, file.OriginalPath, field + ".originalPath");
            Require(bundle, file.Sha256, field + ".sha256");
            Require(bundle, file.Role, field + ".role");
            if (!BundleHashing.IsSha256(file.Sha256) || file.Size < 0)
            {
                throw Damaged(ReplayBundleError.Malformed, bundle, $"bundle.json's {field} ('{file.OriginalPath}') has a bad size or sha256");
            }

            if (file.BundlePath is not null)
            {
                SafePath(bundle, file.BundlePath, field + ".bundlePath");
            }
        }
    }

    private static string Index(string list, int i) => string.Create(CultureInfo.InvariantCulture, $"{list}[{i}]");

    private static void Require(string bundle, string? value, string field)
    {
        if (value is null)
        {
            throw Missing(bundle, field);
        }
    }

    private static void SafePath(string bundle, string path, string field)
    {
        if (BundlePaths.Problem(path) is { } problem)
        {
            throw new ReplayBundleException(ReplayBundleError.UnsafePath, bundle,
                $"replay bundle '{bundle}' is unsafe: bundle.json's {field} '{path}' is not a path inside the bundle ({problem}); the bundle is corrupt or hostile, do not use it");
        }
    }

    private static ReplayBundleException Missing(string bundle, string field) =>
        Damaged(ReplayBundleError.MissingField, bundle, $"bundle.json lacks the required field '{field}'");

    private static ReplayBundleException Damaged(ReplayBundleError error, string bundle, string what, Exception? inner = null) =>
        new(error, bundle, $"replay bundle '{bundle}' is damaged: {what}; {Recover}", inner);

    private static string Where(JsonException e) =>
        e.Path is { Length: > 0 } path ? path : string.Create(CultureInfo.InvariantCulture, $"line {(e.LineNumber ?? 0) + 1}");

    /// <summary>Builds every object's dictionary now, so a duplicate property fails here and not somewhere later.</summary>
    private static void Materialize(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, value) in obj)
                {
                    Materialize(value);
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Materialize(item);
                }

                break;
        }
    }

    /// <summary>
    /// Whether the text is a correct beginning of a JSON document that stops before the document ends (a truncated
    /// write), as opposed to text that is wrong where it stands.
    /// </summary>
    private static bool EndsInsideDocument(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, isFinalBlock: false, state: new JsonReaderState(new JsonReaderOptions { MaxDepth = 64 }));
        try
        {
            var complete = false;
            while (reader.Read())
            {
                complete = reader.CurrentDepth == 0 && reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray;
            }

            return !complete;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
