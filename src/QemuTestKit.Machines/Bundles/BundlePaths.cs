namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// The rules for paths inside a bundle: relative, '/'-separated, no empty, <c>.</c> or <c>..</c> segments, no
/// backslash, colon, comma or control character (so a path can be embedded in a QEMU option as is), never
/// <c>bundle.json</c> itself.
/// </summary>
internal static class BundlePaths
{
    public const string ManifestName = "bundle.json";
    public const string DirectorySuffix = ".qtkreplay";
    public const string ZipSuffix = ".qtkreplay.zip";
    public const string TempSuffix = ".tmp";

    /// <summary>Where a bundle keeps its state image, packed (<see cref="StatePack"/>); bundles written before packing keep <c>state.qcow2</c>.</summary>
    public const string StatePackName = "state.qcow2.pack";

    /// <summary>What a packed file's bundle path ends with (<see cref="StatePack"/>).</summary>
    public const string PackSuffix = ".pack";

    /// <summary>
    /// Where a bundle keeps a disk's base image as a plain copy: a read-only disk's (QEMU opens it in the bundle), a
    /// writable disk's in bundles written before bases were packed. A writable disk's base is now packed
    /// (<see cref="PackedDiskBase"/>), unless it is too large to copy at all (then it is external).
    /// </summary>
    public static string DiskBase(string diskId) => $"disks/{diskId}{DiskBaseSuffix}";

    /// <summary>Where a bundle keeps a writable disk's overlay: what the recorded run wrote over its base.</summary>
    public static string DiskOverlay(string diskId) => $"disks/{diskId}.overlay.qcow2";

    /// <summary>Where a bundle keeps a writable disk's base packed.</summary>
    public static string PackedDiskBase(string diskId) => DiskBase(diskId) + PackSuffix;

    /// <summary>Whether <paramref name="path"/> is a packed disk base (<see cref="PackedDiskBase"/>).</summary>
    public static bool IsPackedDiskBase(string path) => path.EndsWith(DiskBaseSuffix + PackSuffix, StringComparison.Ordinal);

    /// <summary>The disk id of a <see cref="PackedDiskBase"/> path.</summary>
    public static string DiskIdOfPackedBase(string path) => Path.GetFileName(path)[..^(DiskBaseSuffix + PackSuffix).Length];

    private const string DiskBaseSuffix = ".base";

    /// <summary>Null when <paramref name="path"/> is a safe bundle path, else why it is not.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "it is empty";
        }

        if (path[0] == '/' || Path.IsPathRooted(path))
        {
            return "it is absolute";
        }

        foreach (var c in path)
        {
            if (c is '\\' or ':' or ',' || char.IsControl(c))
            {
                return $"it contains '{(char.IsControl(c) ? "\\u" + ((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture) : c.ToString())}'";
            }
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment is "..")
            {
                return "it climbs out of the bundle with '..'";
            }

            if (segment is "" or ".")
            {
                return "it has an empty or '.' segment";
            }
        }

        return string.Equals(path, ManifestName, StringComparison.OrdinalIgnoreCase) ? "it is bundle.json itself" : null;
    }

    /// <summary>The name of a temporary sibling a writer uses: <c>.&lt;name&gt;.&lt;guid&gt;.tmp</c>.</summary>
    public static string TempSibling(string target, string? extra = null) =>
        Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}{extra}{TempSuffix}");

    /// <summary>Whether a directory name is that of an unfinished write (<c>.x.qtkreplay.&lt;guid&gt;.tmp</c>) or any <c>.tmp</c>.</summary>
    public static bool IsTemporary(string directory) =>
        Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)).EndsWith(TempSuffix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Short hex prefix of a hash, for messages.</summary>
    public static string Short(string? sha256) => sha256 is null ? "(none)" : sha256.Length > 16 ? sha256[..16] : sha256;
}
