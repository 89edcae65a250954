using System.Text.Json;
using System.Text.Json.Nodes;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Fixtures.Manifest;

/// <summary>
/// <c>qemutestkit.machines.json</c>: the machines the build validated and prepared (written by QemuTestKit.Tasks next
/// to the test assembly; schema in docs/msbuild.md).
/// </summary>
/// <param name="Path">Where it was read from.</param>
/// <param name="Project">The project that declared the machines.</param>
/// <param name="Configuration">The configuration it was built in (Debug, Release...), when the build said.</param>
public sealed record MachinesManifest(string Path, string? Project, string? Configuration, IReadOnlyList<ManifestMachine> Machines)
{
    public const string FileName = "qemutestkit.machines.json";
    public const int SupportedSchemaVersion = 1;

    /// <summary>The machine called <paramref name="name"/>.</summary>
    /// <exception cref="FixtureException">No such machine: the message lists the declared ones.</exception>
    public ManifestMachine Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Machines.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal))
            ?? throw new FixtureException(Machines.Count == 0
                ? $"no machine '{name}': {Path} declares no machines; add a QemuMachine item to {Project ?? "the test project"}"
                : $"no machine '{name}' in {Path}; the project declares: {string.Join(", ", Machines.Select(m => m.Name))}");
    }

    /// <summary>Reads the manifest next to the test assembly (or <paramref name="path"/>).</summary>
    /// <exception cref="FixtureException">Missing, unreadable or from a newer QemuTestKit.</exception>
    public static MachinesManifest Load(string? path = null)
    {
        path ??= System.IO.Path.Combine(AppContext.BaseDirectory, FileName);
        if (!File.Exists(path))
        {
            throw new FixtureException(
                $"{path} does not exist: the test project declares no QEMU machines, or was built without QemuTestKit.Tasks; reference the QemuTestKit.Tasks package, declare QemuMachine items (docs/msbuild.md) and build again");
        }

        try
        {
            return Parse(File.ReadAllText(path), path);
        }
        catch (IOException e)
        {
            throw new FixtureException($"{path} could not be read: {e.Message}", e);
        }
    }

    /// <exception cref="FixtureException">The text is not a machines manifest this version understands.</exception>
    public static MachinesManifest Parse(string json, string path)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FixtureException($"{path} is not valid JSON ({e.Message}); rebuild the test project to write it again", e);
        }

        if (root is not JsonObject obj)
        {
            throw new FixtureException($"{path} is not a QemuTestKit machines manifest (no JSON object); rebuild the test project to write it again");
        }

        var version = obj["schemaVersion"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0;
        if (version is < 1 or > SupportedSchemaVersion)
        {
            throw new FixtureException(version > SupportedSchemaVersion
                ? $"{path} has schema version {version}, newer than this QemuTestKit.Fixtures understands ({SupportedSchemaVersion}); use the same QemuTestKit version for the build and the fixtures"
                : $"{path} has no valid schemaVersion; rebuild the test project to write it again");
        }

        var machines = new List<ManifestMachine>();
        foreach (var (item, index) in (obj["machines"] as JsonArray ?? []).Select((m, i) => (m, i)))
        {
            machines.Add(ReadMachine(item as JsonObject, index, path));
        }

        return new MachinesManifest(path, Text(obj, "project"), Text(obj, "configuration"), machines);
    }

    private static ManifestMachine ReadMachine(JsonObject? item, int index, string path)
    {
        string Where(string field) => $"{path}: machines[{index}].{field}";
        if (item is null)
        {
            throw new FixtureException($"{path}: machines[{index}] is not an object; rebuild the test project to write the manifest again");
        }

        var name = Text(item, "name") ?? throw new FixtureException($"{Where("name")} is missing; rebuild the test project");
        if (item["spec"] is not JsonObject specNode)
        {
            throw new FixtureException($"{Where("spec")} is missing; rebuild the test project");
        }

        MachineSpec spec;
        try
        {
            spec = MachineSpecJson.Deserialize(specNode.ToJsonString(), Where("spec"));
        }
        catch (MachineSpecFormatException e)
        {
            throw new FixtureException($"{Where("spec")} is not a machine spec ({e.Message}); rebuild the test project", e);
        }

        return new ManifestMachine(
            name,
            spec,
            Text(item, "qemuBinary") ?? spec.QemuBinary,
            Text(item, "qemuVersion"),
            item["prepare"] is JsonValue p && p.TryGetValue<bool>(out var prepare) && prepare,
            Text(item, "stateDirectory"),
            Text(item, "specHash"),
            Text(item, "host") ?? ManifestMachine.LocalHost,
            Text(item, "image"),
            item["record"] is JsonValue r && r.TryGetValue<bool>(out var record) ? record : null);
    }

    private static string? Text(JsonObject item, string field) =>
        item[field] is JsonValue value && value.TryGetValue<string>(out var text) && !string.IsNullOrEmpty(text) ? text : null;
}

/// <summary>One machine of the manifest.</summary>
/// <param name="StateDirectory">Where the build saved (or would save) the ready state; null without Prepare.</param>
/// <param name="Host">Where QEMU runs: <c>local</c> or <c>container</c>.</param>
/// <param name="Image">The container image for <c>Host="container"</c>.</param>
/// <param name="Record">The machine's own recording choice; null follows the run's.</param>
public sealed record ManifestMachine(
    string Name,
    MachineSpec Spec,
    string QemuBinary,
    string? QemuVersion,
    bool Prepare,
    string? StateDirectory,
    string? SpecHash,
    string Host,
    string? Image,
    bool? Record)
{
    public const string LocalHost = QemuTestKit.Machines.Runtime.MachineHosts.Local;
    public const string ContainerHost = QemuTestKit.Machines.Runtime.MachineHosts.Container;
}
