using QemuTestKit.Machines.Manifest;

namespace QemuTestKit.Fixtures.Manifest;

/// <summary>
/// The build's manifest as the fixtures found it: its content, read through <see cref="MachinesManifestJson"/>, and
/// the file it came from, so that every message about it names the file.
/// </summary>
internal sealed class ManifestFile
{
    private ManifestFile(string path, MachinesManifest content)
    {
        Path = path;
        Content = content;
    }

    /// <summary>Where it was read from.</summary>
    public string Path { get; }

    public MachinesManifest Content { get; }

    /// <summary>The machine called <paramref name="name"/>.</summary>
    /// <exception cref="FixtureException">No such machine: the message lists the declared ones.</exception>
    public ManifestMachine Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var machines = Content.Machines;
        return machines.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal))
            ?? throw new FixtureException(machines.Count == 0
                ? $"no machine '{name}': {Path} declares no machines; add a QemuMachine item to {Content.Project ?? "the test project"}"
                : $"no machine '{name}' in {Path}; the project declares: {string.Join(", ", machines.Select(m => m.Name))}");
    }

    /// <summary>Reads the manifest next to the test assembly (or <paramref name="path"/>).</summary>
    /// <exception cref="FixtureException">Missing, unreadable, damaged or from a newer QemuTestKit.</exception>
    public static ManifestFile Load(string? path = null)
    {
        path ??= System.IO.Path.Combine(AppContext.BaseDirectory, MachinesManifest.FileName);
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

    /// <exception cref="FixtureException">The text is not a machines manifest this version reads.</exception>
    public static ManifestFile Parse(string json, string path)
    {
        try
        {
            return new ManifestFile(path, MachinesManifestJson.Parse(json, path));
        }
        catch (MachinesManifestFormatException e)
        {
            throw new FixtureException(e.Message, e);
        }
    }
}
