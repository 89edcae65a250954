namespace QemuTestKit.Introspection.Catalog;

/// <summary>Walks a catalog's QOM parent links, to ask whether a type is a kind of another.</summary>
public sealed class QomAncestry
{
    private readonly Dictionary<string, string?> _parents;

    public QomAncestry(QemuCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        _parents = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var type in catalog.QomTypes)
        {
            _parents[type.Name] = type.Parent;
        }

        foreach (var device in catalog.DeviceTypes)
        {
            _parents.TryAdd(device.Name, device.Parent);
        }
    }

    /// <summary>Whether <paramref name="type"/> is <paramref name="ancestor"/> or descends from it.</summary>
    public bool Reaches(string type, string ancestor)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (string? current = type; current is not null && seen.Add(current); current = _parents.GetValueOrDefault(current))
        {
            if (current == ancestor)
            {
                return true;
            }
        }

        return false;
    }
}
